/**
 * The fake kubelet: the double's pods run as local processes.
 *
 * - Pods owned by a ReplicaSet/StatefulSet/DaemonSet are "virtual": marked Running and Ready at
 *   once with no process, because Helm's --wait only needs their status and `kubectl exec` starts
 *   its own process anyway. All other pods (Job pods, bare pods, hook pods) run their containers:
 *   init containers one after another, then the containers side by side.
 * - stdout and stderr, interleaved as they arrive, are the container's log (served while running).
 * - A pod with an image not in the map stays Pending like on a real cluster: its containers wait
 *   with ErrImagePull, then ImagePullBackOff (the message names the image), and never start; a
 *   Job's activeDeadlineSeconds still fails it. A container that cannot start otherwise (missing
 *   Secret, no image) fails the pod with one log line that says why.
 * - Containers are not restarted: the Job controller retries with new pods, as for restartPolicy Never.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { ServerResponse } from 'node:http';
import type { KubeApi } from './api.js';
import { ContainerConfigError, execPath, imageDir, resolveArgv, resolveEnv } from './pod-env.js';
import { grKey, mustFind } from './registry.js';
import { ApiError, now, type KubeObject } from './types.js';

const PODS = mustFind({ group: '', resource: 'pods' });
const VIRTUAL_OWNERS = ['ReplicaSet', 'StatefulSet', 'DaemonSet'];

/** One container's log: kept after exit so `kubectl logs` works on finished pods. */
class LogBuffer {
  private readonly chunks: Buffer[] = [];
  readonly followers = new Set<(chunk: Buffer | null) => void>();
  done = false;
  append(b: Buffer): void {
    this.chunks.push(b);
    for (const f of this.followers) f(b);
  }
  end(): void {
    this.done = true;
    for (const f of this.followers) f(null);
    this.followers.clear();
  }
  text(): string {
    return Buffer.concat(this.chunks).toString('utf8');
  }
}

export class Kubelet {
  /** pod uid → container name → log. */
  private readonly logs = new Map<string, Map<string, LogBuffer>>();
  /** pod uid (or "exec") → running processes, killed with their process group. */
  private readonly procs = new Map<string, Set<ChildProcess>>();
  private readonly killReasons = new Map<string, string>();

  constructor(private readonly api: KubeApi, readonly images: Record<string, string>) {
    api.store.subscribe((ev) => {
      if (ev.gr !== grKey(PODS)) return;
      if (ev.type === 'ADDED' && ev.object.status?.phase === 'Pending') this.start(ev.object);
      if (ev.type === 'DELETED') this.kill(ev.object.metadata.uid!, 'Deleted');
    });
  }

  static isVirtual(pod: KubeObject): boolean {
    return (pod.metadata.ownerReferences ?? []).some((r) => r.controller && VIRTUAL_OWNERS.includes(r.kind));
  }

  private start(pod: KubeObject): void {
    const containers: KubeObject[] = [...(pod.spec.initContainers ?? []), ...(pod.spec.containers ?? [])];
    this.logs.set(pod.metadata.uid!, new Map(containers.map((c) => [c.name as string, new LogBuffer()])));
    const unpullable = containers.find((c) => !hasImage(this.images, c.image));
    if (!Kubelet.isVirtual(pod) && unpullable) return this.pullFails(pod, unpullable.image);
    if (Kubelet.isVirtual(pod)) {
      for (const b of this.logs.get(pod.metadata.uid!)!.values()) b.end();
      this.setStatus(pod, 'Running', pod.spec.containers.map((c: KubeObject) => this.containerState(c, { running: { startedAt: now() } })));
      return;
    }
    this.run(pod).catch((err: unknown) => console.error(`kube double: kubelet failed on pod ${pod.metadata.name}:`, err));
  }

  /** The kubelet's answer to an image no registry has: ErrImagePull, then ImagePullBackOff, for good. */
  private pullFails(pod: KubeObject, image: string): void {
    const main: KubeObject[] = pod.spec.containers ?? [];
    const waiting = (reason: string, message: string) => main.map((c) => this.containerState(c, { waiting: { reason, message } }, false));
    const failure = `rpc error: code = NotFound desc = failed to pull and unpack image "${image}": not found (kube double: not in the fake kubelet's image map)`;
    this.setStatus(pod, 'Pending', waiting('ErrImagePull', failure));
    setTimeout(() => this.setStatus(pod, 'Pending', waiting('ImagePullBackOff', `Back-off pulling image "${image}": ErrImagePull: ${failure}`)), 200).unref();
  }

  private async run(pod: KubeObject): Promise<void> {
    const uid = pod.metadata.uid!;
    const init: KubeObject[] = pod.spec.initContainers ?? [];
    const main: KubeObject[] = pod.spec.containers ?? [];
    const started = now();
    this.setStatus(pod, 'Running', main.map((c) => this.containerState(c, { running: { startedAt: started } })));
    let failed = false;
    // Native sidecars (restartPolicy: Always, Kubernetes 1.29+) start in order with the other init
    // containers but are not waited for; once the main containers have ended the kubelet stops them,
    // and their exit does not count in the pod's phase.
    const sidecars: Array<{ proc?: ChildProcess; exited: Promise<number> }> = [];
    for (const c of init) {
      if (c.restartPolicy === 'Always') {
        const sidecar: { proc?: ChildProcess; exited: Promise<number> } = { exited: Promise.resolve(0) };
        sidecar.exited = this.runContainer(pod, c, (proc) => (sidecar.proc = proc));
        sidecars.push(sidecar);
        continue;
      }
      if ((await this.runContainer(pod, c)) !== 0) {
        failed = true;
        break;
      }
    }
    if (failed) for (const c of main) this.logs.get(uid)!.get(c.name)!.end(); // never started: nothing to follow
    const codes = failed ? main.map(() => undefined) : await Promise.all(main.map((c) => this.runContainer(pod, c)));
    for (const sidecar of sidecars) if (sidecar.proc) stopGroup(sidecar.proc);
    await Promise.all(sidecars.map((sidecar) => sidecar.exited));
    const finished = now();
    const states = main.map((c, i) => {
      const exitCode = codes[i];
      const reason = this.killReasons.get(uid) ?? (exitCode === 0 ? 'Completed' : 'Error');
      return this.containerState(c, { terminated: { exitCode: exitCode ?? 1, reason, startedAt: started, finishedAt: finished } }, false);
    });
    this.setStatus(pod, codes.every((c) => c === 0) ? 'Succeeded' : 'Failed', states, this.killReasons.get(uid));
    this.killReasons.delete(uid);
  }

  /** Resolves with the exit code (128+n when killed by signal n, 127/128 when it could not start). */
  private runContainer(pod: KubeObject, c: KubeObject, onStart?: (proc: ChildProcess) => void): Promise<number> {
    const log = this.logs.get(pod.metadata.uid!)!.get(c.name)!;
    let proc: ChildProcess;
    try {
      const dir = imageDir(this.images, c.image);
      const env = resolveEnv(this.api, pod, c, dir);
      proc = this.spawn(pod.metadata.uid!, resolveArgv(c, dir, env), dir, env, false);
    } catch (err) {
      if (!(err instanceof ContainerConfigError)) throw err;
      log.append(Buffer.from(`${err.message}\n`));
      log.end();
      this.killReasons.set(pod.metadata.uid!, err.reason);
      return Promise.resolve(128);
    }
    onStart?.(proc);
    proc.stdout!.on('data', (b: Buffer) => log.append(b));
    proc.stderr!.on('data', (b: Buffer) => log.append(b));
    return new Promise((resolvePromise) => {
      let startFailed = false;
      proc.on('error', (err: NodeJS.ErrnoException) => {
        startFailed = true;
        const why = err.code === 'ENOENT' ? 'executable file not found in $PATH' : err.message;
        log.append(Buffer.from(`kube double: cannot start container "${c.name}": exec: "${proc.spawnfile}": ${why}\n`));
      });
      proc.on('close', (code, signal) => {
        log.end();
        if (startFailed) return resolvePromise(127);
        resolvePromise(code ?? (signal === 'SIGKILL' ? 137 : signal === 'SIGTERM' ? 143 : 128));
      });
    });
  }

  /** Starts a process in its own process group so that kill() also stops what a shell script started. */
  private spawn(owner: string, argv: string[], cwd: string, env: Record<string, string>, stdin: boolean): ChildProcess {
    const proc = spawn(argv[0]!, argv.slice(1), { cwd, env, stdio: [stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'], detached: true });
    const set = this.procs.get(owner) ?? new Set<ChildProcess>();
    this.procs.set(owner, set);
    set.add(proc);
    proc.on('close', () => set.delete(proc));
    proc.on('error', () => set.delete(proc));
    return proc;
  }

  /** `kubectl exec`: argv in the pod's image directory with the container's resolved env. */
  spawnExec(pod: KubeObject, containerName: string | undefined, argv: string[], stdin: boolean): ChildProcess {
    const c: KubeObject | undefined = containerName ? pod.spec.containers.find((x: KubeObject) => x.name === containerName) : pod.spec.containers[0];
    if (!c) throw new ApiError(400, 'BadRequest', `container ${containerName} is not valid for pod ${pod.metadata.name}`);
    const dir = imageDir(this.images, c.image);
    const env = resolveEnv(this.api, pod, c, dir);
    return this.spawn('exec', [execPath(argv[0]!, dir), ...argv.slice(1)], dir, env, stdin);
  }

  /** Stops a pod's processes; the pod then fails with `reason` (e.g. DeadlineExceeded). */
  kill(podUid: string, reason: string): void {
    const set = this.procs.get(podUid);
    if (!set?.size) return;
    this.killReasons.set(podUid, reason);
    for (const p of set) killGroup(p);
  }

  close(): void {
    for (const set of this.procs.values()) for (const p of set) killGroup(p);
    for (const byContainer of this.logs.values()) for (const b of byContainer.values()) if (!b.done) b.end();
  }

  /** The log of one container (the only one, or the first, if not named); undefined if never started. */
  logText(pod: KubeObject, container?: string): string | undefined {
    const byContainer = this.logs.get(pod.metadata.uid!);
    return byContainer?.get(container ?? pod.spec.containers[0].name)?.text();
  }

  serveLogs(pod: KubeObject, q: URLSearchParams, res: ServerResponse, streams: Set<ServerResponse>): void {
    const names: string[] = [...(pod.spec.initContainers ?? []), ...pod.spec.containers].map((c: KubeObject) => c.name);
    const container = q.get('container') ?? (pod.spec.containers.length === 1 ? pod.spec.containers[0].name : undefined);
    if (!container) {
      throw new ApiError(400, 'BadRequest', `a container name must be specified for pod ${pod.metadata.name}, choose one of: [${names.join(' ')}]`);
    }
    if (!names.includes(container)) throw new ApiError(400, 'BadRequest', `container ${container} is not valid for pod ${pod.metadata.name}`);
    const buf = this.logs.get(pod.metadata.uid!)?.get(container);
    const pulling = (pod.status?.containerStatuses ?? []).some((c: KubeObject) => /ImagePull/.test(c.state?.waiting?.reason ?? ''));
    if (!buf || pulling) {
      throw new ApiError(400, 'BadRequest', `container "${container}" in pod "${pod.metadata.name}" is waiting to start: ${pulling ? 'trying and failing to pull image' : 'ContainerCreating'}`);
    }
    res.writeHead(200, { 'Content-Type': 'text/plain' });
    const tail = q.get('tailLines');
    let text = buf.text();
    if (tail !== null) text = text.split(/(?<=\n)/).slice(-Number(tail) || text.length).join('');
    res.write(text);
    if (q.get('follow') !== 'true' || buf.done) return void res.end();
    res.flushHeaders();
    const follower = (chunk: Buffer | null) => (chunk ? res.write(chunk) : res.end());
    buf.followers.add(follower);
    streams.add(res);
    res.on('close', () => {
      buf.followers.delete(follower);
      streams.delete(res);
    });
  }

  private containerState(c: KubeObject, state: object, ready = true): object {
    return { name: c.name, image: c.image, imageID: '', ready, started: ready, restartCount: 0, state };
  }

  private setStatus(pod: KubeObject, phase: string, containerStatuses: object[], reason?: string): void {
    const running = phase === 'Running';
    const cond = (type: string, status: boolean) => ({ type, status: status ? 'True' : 'False', lastProbeTime: null, lastTransitionTime: now() });
    this.api.mutate(PODS, pod.metadata.namespace, pod.metadata.name!, (p) => {
      if (p.metadata.uid !== pod.metadata.uid) return; // replaced by a new pod of the same name
      p.status = {
        ...p.status,
        phase,
        ...(reason && !running ? { reason } : {}),
        hostIP: '127.0.0.1',
        podIP: '127.0.0.1',
        startTime: p.status?.startTime ?? now(),
        conditions: [cond('PodScheduled', true), cond('Initialized', true), cond('ContainersReady', running), cond('Ready', running)],
        containerStatuses,
      };
    }, { subresource: 'status' });
  }
}

function hasImage(images: Record<string, string>, image: string | undefined): boolean {
  try {
    imageDir(images, image);
    return true;
  } catch (err) {
    if (err instanceof ContainerConfigError) return err.reason !== 'ErrImagePull';
    throw err;
  }
}

/** SIGTERM to the process group, as the kubelet stops a sidecar (no grace period here). */
function stopGroup(p: ChildProcess): void {
  try {
    if (p.pid) process.kill(-p.pid, 'SIGTERM');
  } catch {
    p.kill('SIGTERM');
  }
}

function killGroup(p: ChildProcess): void {
  try {
    if (p.pid) process.kill(-p.pid, 'SIGKILL');
  } catch {
    p.kill('SIGKILL'); // the group is gone already, or the process never started
  }
}
