/**
 * `kubectl exec` over WebSocket (v5.channel.k8s.io, v4 accepted).
 *
 * kubectl 1.33 GETs `pods/p/exec?command=…&stdin=…` with `Upgrade: websocket`; on any non-101
 * answer it retries with SPDY, which the double does not speak, so errors found before the
 * handshake are answered as a normal Status and the command fails with that message.
 * Frames carry a channel byte: 0 stdin, 1 stdout, 2 stderr, 3 the final Status (kubectl exits with
 * the code in `details.causes[ExitCode]`), 4 resize. In v5, `[255, 0]` closes stdin.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { KubeApi } from './api.js';
import type { Kubelet } from './kubelet.js';
import { ContainerConfigError } from './pod-env.js';
import { parseResourcePath } from './server.js';
import { ApiError, type KubeObject } from './types.js';
import { acceptKey, encodeFrame, FrameReader, OPCODE } from './websocket.js';

const PROTOCOLS = ['v5.channel.k8s.io', 'v4.channel.k8s.io'];

/** Answers an upgrade request that cannot be served with a plain HTTP Status, and closes the socket. */
export function refuse(socket: Duplex, err: ApiError): void {
  const body = JSON.stringify(err.toStatus());
  const reasons: Record<number, string> = { 400: 'Bad Request', 403: 'Forbidden', 404: 'Not Found', 500: 'Internal Server Error' };
  const head = [
    `HTTP/1.1 ${err.code} ${reasons[err.code] ?? 'Error'}`,
    'Content-Type: application/json',
    `Content-Length: ${Buffer.byteLength(body)}`,
    'Connection: close',
  ];
  socket.end(`${head.join('\r\n')}\r\n\r\n${body}`);
}

function exitStatus(code: number, argv: string[]): object {
  if (code === 0) return { metadata: {}, status: 'Success' };
  return {
    metadata: {},
    status: 'Failure',
    message: `command terminated with non-zero exit code: error executing command [${argv.join(' ')}], exit code ${code}`,
    reason: 'NonZeroExitCode',
    details: { causes: [{ reason: 'ExitCode', message: String(code) }] },
  };
}

/** Handles an HTTP upgrade; `onAnswer` learns the status it got (101 when the session starts). */
export function handleUpgrade(api: KubeApi, kubelet: Kubelet, req: IncomingMessage, socket: Duplex, onAnswer: (status: number) => void): void {
  socket.on('error', () => socket.destroy());
  try {
    const url = new URL(req.url ?? '/', 'http://double');
    const route = parseResourcePath(url.pathname);
    if (!route || route.def.resource !== 'pods' || route.sub !== 'exec' || !route.name) {
      throw new ApiError(404, 'NotFound', 'the double only upgrades pods/exec');
    }
    const pod = api.get(route.def, route.ns, route.name);
    if (pod.status?.phase !== 'Running') {
      throw new ApiError(400, 'BadRequest', `cannot exec into a container in a completed pod; current phase is ${pod.status?.phase}`);
    }
    const argv = url.searchParams.getAll('command');
    if (argv.length === 0) throw new ApiError(400, 'BadRequest', 'you must specify at least 1 command');
    const container = url.searchParams.get('container') ?? undefined;
    if (container && !pod.spec.containers.some((c: KubeObject) => c.name === container)) {
      throw new ApiError(400, 'BadRequest', `container ${container} is not valid for pod ${pod.metadata.name}`);
    }
    // Checked last: kubectl retries a refused WebSocket with SPDY and prints that answer's error.
    if ((req.headers.upgrade ?? '').toLowerCase() !== 'websocket') {
      throw new ApiError(400, 'BadRequest', 'kube double: exec supports only WebSocket (v5.channel.k8s.io), not SPDY');
    }
    const offered = (req.headers['sec-websocket-protocol'] ?? '').split(',').map((s) => s.trim());
    const protocol = PROTOCOLS.find((p) => offered.includes(p));
    if (!protocol) throw new ApiError(400, 'BadRequest', `no supported subprotocol in "${offered.join(', ')}"`);
    socket.write(
      `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Accept: ${acceptKey(String(req.headers['sec-websocket-key']))}\r\nSec-WebSocket-Protocol: ${protocol}\r\n\r\n`,
    );
    onAnswer(101);
    run(kubelet, pod, container, argv, url.searchParams.get('stdin') === 'true', protocol, socket);
  } catch (err) {
    const apiErr = err instanceof ApiError ? err : new ApiError(500, 'InternalError', String(err));
    onAnswer(apiErr.code);
    refuse(socket, apiErr);
  }
}

function run(kubelet: Kubelet, pod: KubeObject, container: string | undefined, argv: string[], stdin: boolean, protocol: string, socket: Duplex): void {
  const send = (channel: number, data: Buffer) => {
    if (!socket.destroyed) socket.write(encodeFrame(OPCODE.binary, Buffer.concat([Buffer.from([channel]), data])));
  };
  const finish = (status: object) => {
    send(3, Buffer.from(JSON.stringify(status)));
    if (!socket.destroyed) socket.end(encodeFrame(OPCODE.close, Buffer.from([0x03, 0xe8])));
  };
  let proc;
  try {
    proc = kubelet.spawnExec(pod, container, argv, stdin);
  } catch (err) {
    const message = err instanceof ContainerConfigError || err instanceof ApiError ? err.message : String(err);
    return finish({ metadata: {}, status: 'Failure', message, reason: 'InternalError', code: 500 });
  }
  const child = proc;
  let startError: Error | undefined;
  child.on('error', (err) => (startError = err));
  child.stdout!.on('data', (b: Buffer) => send(1, b));
  child.stderr!.on('data', (b: Buffer) => send(2, b));
  child.stdin?.on('error', () => undefined); // the command may exit before reading its input
  child.on('close', (code, signal) => {
    if (startError) {
      const why = (startError as NodeJS.ErrnoException).code === 'ENOENT' ? 'executable file not found in $PATH' : startError.message;
      const message = `OCI runtime exec failed: exec failed: unable to start container process: exec: "${argv[0]}": ${why}: unknown`;
      send(2, Buffer.from(`${message}\n`));
      return finish(exitStatus(127, argv));
    }
    finish(exitStatus(code ?? (signal ? 137 : 1), argv));
  });

  const reader = new FrameReader();
  socket.on('data', (chunk: Buffer) => {
    for (const msg of reader.push(chunk)) {
      if (msg.opcode === OPCODE.close) {
        child.stdin?.end();
        if (child.exitCode === null) child.kill('SIGKILL'); // the client went away
        socket.end();
        return;
      }
      if (msg.opcode === OPCODE.ping) socket.write(encodeFrame(OPCODE.pong, msg.payload));
      if (msg.opcode !== OPCODE.binary && msg.opcode !== OPCODE.text) continue;
      const channel = msg.payload[0];
      const data = msg.payload.subarray(1);
      if (channel === 0 && child.stdin && !child.stdin.writableEnded) child.stdin.write(data);
      if (channel === 255 && protocol.startsWith('v5') && data[0] === 0) child.stdin?.end();
    }
  });
  socket.on('close', () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
}
