/**
 * `kubectl port-forward` against the double: the pods/portforward subresource, with the protocol
 * kubectl 1.33 really uses (verified with it, see portforward.test.ts).
 *
 * kubectl resolves `svc/NAME` and `deploy/NAME` itself: it GETs the object, LISTs pods by its
 * selector, picks one, maps the Service port to the pod's targetPort (a named targetPort through
 * the pod's containerPorts), GETs the pod (it must be Running), then connects to its portforward
 * subresource:
 *   1. `GET …/pods/P/portforward` with `Upgrade: websocket` and `Sec-WebSocket-Protocol:
 *      SPDY/3.1+portforward.k8s.io` (feature PortForwardWebsockets, on by default; off with
 *      KUBECTL_PORT_FORWARD_WEBSOCKETS=false). The answer must echo that subprotocol. Then SPDY/3.1
 *      frames travel as the payload of binary WebSocket messages, in both directions.
 *   2. On any non-101 answer it retries as `POST` with `Upgrade: SPDY/3.1`, `Connection: Upgrade`
 *      and `X-Stream-Protocol-Version: portforward.k8s.io`; the 101 answer repeats all three, and
 *      SPDY then runs on the raw socket. Both are served here.
 * Per accepted local connection, kubectl opens two SPDY streams with the headers `streamType`
 * (`error`, then `data`), `port` (the pod port) and `requestID` (0, 1, …): it half-closes the error
 * stream at once and reads it to the end; any text there is a failure, which makes kubectl log
 * "an error occurred forwarding" and give up the whole session. Bytes of the data stream go to the
 * pod's port. When the pod side closes, the double half-closes the data stream, then the error
 * stream; when kubectl's local client goes, kubectl half-closes or resets the data stream.
 *
 * Where a pod port leads: there is no pod network, so a pod says it with an annotation, one per
 * port, `kube-double/forward-<port>: "127.0.0.1:<real port>"` (or just the real port), e.g. on a
 * StatefulSet's pod template. A port without one is refused as a real pod with nothing listening
 * would refuse it.
 */
import type { IncomingMessage } from 'node:http';
import { connect } from 'node:net';
import type { Duplex } from 'node:stream';
import type { KubeApi } from './api.js';
import { refuse } from './exec.js';
import { parseResourcePath } from './server.js';
import { RST, SpdyServerSession, type SpdyStream } from './spdy.js';
import { ApiError, type KubeObject } from './types.js';
import { acceptKey, encodeFrame, FrameReader, OPCODE } from './websocket.js';

export const FORWARD_ANNOTATION_PREFIX = 'kube-double/forward-';
const PROTOCOL = 'portforward.k8s.io';
const TUNNEL_PROTOCOL = `SPDY/3.1+${PROTOCOL}`;

/** Where the double sends a pod's port: from the pod's `kube-double/forward-<port>` annotation. */
export function forwardTarget(pod: KubeObject, port: number): { host: string; port: number } | undefined {
  const value = pod.metadata.annotations?.[`${FORWARD_ANNOTATION_PREFIX}${port}`]?.trim();
  if (!value) return undefined;
  const colon = value.lastIndexOf(':');
  const host = colon < 0 ? '127.0.0.1' : value.slice(0, colon).replace(/^\[(.*)\]$/, '$1');
  const real = Number(colon < 0 ? value : value.slice(colon + 1));
  return Number.isInteger(real) && real > 0 && real < 65536 ? { host, port: real } : undefined;
}

/** Handles the upgrade of `pods/NAME/portforward`; `onAnswer` learns the status it got (101 when the session starts). */
export function handlePortForward(api: KubeApi, req: IncomingMessage, socket: Duplex, onAnswer: (status: number) => void): void {
  socket.on('error', () => socket.destroy());
  try {
    const url = new URL(req.url ?? '/', 'http://double');
    const route = parseResourcePath(url.pathname);
    if (!route?.name || route.def.resource !== 'pods' || route.sub !== 'portforward') throw new ApiError(404, 'NotFound', 'not a pods/portforward request');
    const pod = api.get(route.def, route.ns, route.name);
    if (pod.status?.phase !== 'Running') {
      throw new ApiError(400, 'BadRequest', `unable to upgrade connection: pod ${pod.metadata.name} is not running (phase ${pod.status?.phase})`);
    }
    const upgrade = (req.headers.upgrade ?? '').toLowerCase();
    if (upgrade === 'websocket') {
      const offered = (req.headers['sec-websocket-protocol'] ?? '').split(',').map((s) => s.trim());
      // Anything else (v2.portforward.k8s.io of newer clients) is refused, so the client falls back to SPDY.
      if (!offered.includes(TUNNEL_PROTOCOL)) throw new ApiError(400, 'BadRequest', `kube double: no supported subprotocol in "${offered.join(', ')}"`);
      socket.write(
        'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
          `Sec-WebSocket-Accept: ${acceptKey(String(req.headers['sec-websocket-key']))}\r\nSec-WebSocket-Protocol: ${TUNNEL_PROTOCOL}\r\n\r\n`,
      );
      onAnswer(101);
      return serveTunnel(pod, socket);
    }
    if (upgrade === 'spdy/3.1') {
      const versions = String(req.headers['x-stream-protocol-version'] ?? '').split(',').map((s) => s.trim());
      if (!versions.includes(PROTOCOL)) throw new ApiError(400, 'BadRequest', `kube double: no supported stream protocol in "${versions.join(', ')}"`);
      socket.write(`HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: ${PROTOCOL}\r\n\r\n`);
      onAnswer(101);
      const session = new SpdyServerSession((b) => void (socket.destroyed || socket.write(b)), forwarder(pod), () => socket.end());
      socket.on('data', (chunk: Buffer) => session.push(chunk));
      socket.on('close', () => session.close('connection closed'));
      return;
    }
    throw new ApiError(400, 'BadRequest', 'Upgrade request required');
  } catch (err) {
    const apiErr = err instanceof ApiError ? err : new ApiError(500, 'InternalError', String(err));
    onAnswer(apiErr.code);
    refuse(socket, apiErr);
  }
}

/** SPDY inside binary WebSocket messages (client-go's TunnelingConnection). */
function serveTunnel(pod: KubeObject, socket: Duplex): void {
  const closeFrame = encodeFrame(OPCODE.close, Buffer.from([0x03, 0xe8])); // 1000, normal closure
  const session = new SpdyServerSession(
    (b) => void (socket.destroyed || socket.write(encodeFrame(OPCODE.binary, b))),
    forwarder(pod),
    () => void (socket.destroyed || socket.end(closeFrame)),
  );
  const reader = new FrameReader();
  socket.on('data', (chunk: Buffer) => {
    for (const msg of reader.push(chunk)) {
      if (msg.opcode === OPCODE.binary) session.push(msg.payload);
      else if (msg.opcode === OPCODE.ping) socket.write(encodeFrame(OPCODE.pong, msg.payload));
      else if (msg.opcode === OPCODE.close) session.close('the client closed the WebSocket');
    }
  });
  socket.on('close', () => session.close('connection closed'));
}

/** Pairs each requestID's error and data streams, then connects the data stream to the pod's port. */
function forwarder(pod: KubeObject): (stream: SpdyStream) => void {
  const pairs = new Map<string, { error?: SpdyStream; data?: SpdyStream }>();
  return (stream) => {
    const type = stream.headers['streamtype'];
    const id = stream.headers['requestid'];
    if ((type !== 'error' && type !== 'data') || id === undefined) return stream.reset(RST.protocolError);
    const pair = pairs.get(id) ?? {};
    pair[type] = stream;
    pairs.set(id, pair);
    if (pair.error && pair.data) {
      pairs.delete(id);
      forward(pod, Number(stream.headers['port']), pair.error, pair.data);
    }
  };
}

function forward(pod: KubeObject, port: number, errorStream: SpdyStream, dataStream: SpdyStream): void {
  const where = `error forwarding port ${port} to pod ${pod.metadata.name}, uid ${pod.metadata.uid}`;
  const finish = (failure?: string) => {
    if (failure) errorStream.write(Buffer.from(`${where}: ${failure}`));
    dataStream.end();
    errorStream.end();
  };
  const target = forwardTarget(pod, port);
  if (!target) {
    return finish(
      `failed to connect to localhost:${port} inside the pod: connection refused ` +
        `(kube double: the pod has no annotation ${FORWARD_ANNOTATION_PREFIX}${port} saying where that port leads)`,
    );
  }
  let connected = false;
  const socket = connect(target.port, target.host, () => (connected = true));
  dataStream.onData = (data) => socket.write(data);
  dataStream.onEnd = () => socket.end();
  dataStream.onReset = () => socket.destroy();
  socket.on('data', (data: Buffer) => dataStream.write(data));
  socket.on('error', (err: NodeJS.ErrnoException) => {
    if (!connected) finish(`failed to connect to ${target.host}:${target.port} for pod port ${port}: ${err.code ?? err.message}`);
  });
  socket.on('close', () => finish());
}
