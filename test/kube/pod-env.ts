/**
 * How the fake kubelet turns a container spec into a local process: which "image" directory it
 * runs in, which environment it gets, which file it executes.
 *
 * An image is a directory (mapped by name in the double's `images` option). The process runs
 * with cwd = that directory and `<image>/bin` first on PATH, so `command: [migrate]` finds
 * `<image>/bin/migrate` the way a real image finds /usr/local/bin/migrate. Without `command`,
 * the image's `entrypoint` file plays the Dockerfile ENTRYPOINT and `args` are appended.
 */
import { existsSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import type { KubeApi } from './api.js';
import { mustFind } from './registry.js';
import type { KubeObject } from './types.js';

/** A container the kubelet cannot start; the message becomes the container's log line. */
export class ContainerConfigError extends Error {
  constructor(message: string, readonly reason: string) {
    super(message);
  }
}

const SECRETS = mustFind({ group: '', resource: 'secrets' });
const CONFIGMAPS = mustFind({ group: '', resource: 'configmaps' });

/** Exact name first, then the names Docker treats as equal (docker.io/, library/, :latest). */
export function imageDir(images: Record<string, string>, image: string | undefined): string {
  if (!image) throw new ContainerConfigError('kube double: the container has no image', 'InvalidImageName');
  const norm = (s: string) => {
    let n = s.replace(/^docker\.io\//, '').replace(/^library\//, '');
    if (!/[:@][^/]*$/.test(n)) n += ':latest';
    return n;
  };
  const dir = images[image] ?? Object.entries(images).find(([k]) => norm(k) === norm(image))?.[1];
  if (dir) return resolve(dir);
  const known = Object.keys(images).join(', ') || 'none';
  throw new ContainerConfigError(
    `kube double: image "${image}" is not in the fake kubelet's image map (known images: ${known}); pass it in startKubeDouble({images})`,
    'ErrImagePull',
  );
}

/** Reads `key` of a Secret or ConfigMap (Secret values decoded), or all keys when key is undefined. */
function readRef(api: KubeApi, kind: 'Secret' | 'ConfigMap', ns: string, name: string, optional: boolean): Record<string, string> | undefined {
  const obj = api.find(kind === 'Secret' ? SECRETS : CONFIGMAPS, ns, name);
  if (!obj) {
    if (optional) return undefined;
    throw new ContainerConfigError(`${kind.toLowerCase()} "${name}" not found`, 'CreateContainerConfigError');
  }
  const data: Record<string, string> = { ...(obj.data ?? {}) };
  if (kind === 'Secret') for (const k of Object.keys(data)) data[k] = Buffer.from(data[k]!, 'base64').toString('utf8');
  return data;
}

/** `$(VAR)` expands to an earlier variable, `$$(VAR)` escapes, unknown references stay as written. */
export function expand(s: string, env: Record<string, string>): string {
  return s.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)/g, (m, name: string | undefined) => {
    if (m === '$$') return '$';
    return name !== undefined && name in env ? env[name]! : m;
  });
}

function fieldRef(pod: KubeObject, path: string): string {
  const m = /^metadata\.(labels|annotations)\['(.+)'\]$/.exec(path);
  if (m) return pod.metadata[m[1] as 'labels' | 'annotations']?.[m[2]!] ?? '';
  const known: Record<string, string | undefined> = {
    'metadata.name': pod.metadata.name,
    'metadata.namespace': pod.metadata.namespace,
    'metadata.uid': pod.metadata.uid,
    'spec.nodeName': pod.spec?.nodeName,
    'spec.serviceAccountName': pod.spec?.serviceAccountName,
    'status.podIP': pod.status?.podIP,
    'status.hostIP': pod.status?.hostIP,
  };
  return known[path] ?? '';
}

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: {
    secretKeyRef?: { name: string; key: string; optional?: boolean };
    configMapKeyRef?: { name: string; key: string; optional?: boolean };
    fieldRef?: { fieldPath: string };
  };
}

/** The container's environment: the test process's PATH and HOME, then envFrom, then env (env wins). */
export function resolveEnv(api: KubeApi, pod: KubeObject, container: KubeObject, dir: string): Record<string, string> {
  const ns = pod.metadata.namespace!;
  const env: Record<string, string> = {
    PATH: `${join(dir, 'bin')}:${process.env.PATH ?? '/usr/bin:/bin'}`,
    HOME: process.env.HOME ?? '/',
    HOSTNAME: pod.metadata.name!,
  };
  for (const from of container.envFrom ?? []) {
    const ref = from.secretRef ?? from.configMapRef;
    const data = readRef(api, from.secretRef ? 'Secret' : 'ConfigMap', ns, ref.name, ref.optional === true);
    for (const [k, v] of Object.entries(data ?? {})) env[`${from.prefix ?? ''}${k}`] = v;
  }
  for (const e of (container.env ?? []) as EnvVar[]) {
    const vf = e.valueFrom;
    if (!vf) {
      env[e.name] = expand(e.value ?? '', env);
      continue;
    }
    const keyRef = vf.secretKeyRef ?? vf.configMapKeyRef;
    if (keyRef) {
      const kind = vf.secretKeyRef ? 'Secret' : 'ConfigMap';
      const data = readRef(api, kind, ns, keyRef.name, keyRef.optional === true);
      if (data && !(keyRef.key in data) && !keyRef.optional) {
        throw new ContainerConfigError(`couldn't find key ${keyRef.key} in ${kind} ${ns}/${keyRef.name}`, 'CreateContainerConfigError');
      }
      if (data?.[keyRef.key] !== undefined) env[e.name] = data[keyRef.key]!;
    } else if (vf.fieldRef) env[e.name] = fieldRef(pod, vf.fieldRef.fieldPath);
  }
  return env;
}

/** argv[0] resolved: absolute stays, `./x` or `bin/x` is relative to the image, a bare name goes through PATH. */
export function resolveArgv(container: KubeObject, dir: string, env: Record<string, string>): string[] {
  const args = ((container.args ?? []) as string[]).map((a) => expand(a, env));
  let argv: string[];
  if (container.command?.length) argv = [...(container.command as string[]).map((a) => expand(a, env)), ...args];
  else if (existsSync(join(dir, 'entrypoint'))) argv = [join(dir, 'entrypoint'), ...args];
  else {
    const msg = `kube double: container "${container.name}" has no command and image ${dir} has no entrypoint file`;
    throw new ContainerConfigError(msg, 'CreateContainerError');
  }
  return [execPath(argv[0]!, dir), ...argv.slice(1)];
}

export const execPath = (file: string, dir: string): string => (isAbsolute(file) || !file.includes('/') ? file : resolve(dir, file));
