/**
 * Finds the database URL without the user typing it: from a flag, from the environment, or the way
 * the application itself gets it, from its workload's container env (a plain value, a Secret or
 * ConfigMap key, envFrom, and Kubernetes' $(VAR) references). The URL is a secret: it is returned
 * to the caller and never put into a message; `source` says where it came from instead.
 */
import { DatabaseUrlError } from './errors.js';
import type { KubeObject, KubePort } from './ports.js';

export const DATABASE_URL_ENV = 'SCHEMA_ROLLBACK_DATABASE_URL';
export const DEFAULT_URL_VAR = 'DATABASE_URL';

export interface ResolvedUrl {
  url: string;
  /** Human-readable origin, safe to print: "--database-url", "deployment/x container app env DATABASE_URL (Secret s key k)". */
  source: string;
  /** The Secrets read to find it (their names), for the permission check. */
  secrets?: string[];
}

export interface UrlInputs {
  flag?: string;
  environment?: string;
  /** KIND/NAME, already rendered. */
  workload?: string;
  container?: string;
  variable?: string;
}

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: {
    secretKeyRef?: { name: string; key: string; optional?: boolean };
    configMapKeyRef?: { name: string; key: string; optional?: boolean };
  };
}
interface EnvFrom {
  prefix?: string;
  secretRef?: { name: string };
  configMapRef?: { name: string };
}
export interface Container {
  name: string;
  image?: string;
  env?: EnvVar[];
  envFrom?: EnvFrom[];
}

/**
 * The URL without its password, and the password apart: PostgreSQL's client programs take it in
 * PGPASSWORD, so that it is in no argv (`ps` and /proc show argv to every user of the machine or pod).
 */
export function splitPassword(url: string): { url: string; password?: string } {
  const u = new URL(url);
  const password = u.password ? decodeURIComponent(u.password) : (u.searchParams.get('password') ?? undefined);
  u.password = '';
  u.searchParams.delete('password');
  return { url: u.toString(), ...(password !== undefined ? { password } : {}) };
}

export async function resolveDatabaseUrl(kube: KubePort, inputs: UrlInputs): Promise<ResolvedUrl> {
  if (inputs.flag) return { url: inputs.flag, source: '--database-url' };
  if (inputs.environment) return { url: inputs.environment, source: `environment ${DATABASE_URL_ENV}` };
  if (!inputs.workload) {
    throw new DatabaseUrlError('no database URL: the chart names no workload to read it from', {
      hint: `set ${DATABASE_URL_ENV} or pass --database-url, or give --workload KIND/NAME (annotation schema-rollback.io/workload)`,
    });
  }
  const [kind, name] = splitRef(inputs.workload);
  const workload = await kube.get(kind, name);
  const container = pickContainer(workload, inputs.workload, inputs.container);
  const variable = inputs.variable ?? DEFAULT_URL_VAR;
  const secrets = new Set<string>();
  const reader = new EnvReader({ get: (k, n) => (k === 'secret' && secrets.add(n), kube.get(k, n)) }, container);
  const found = await reader.lookup(variable);
  if (found === undefined) {
    throw new DatabaseUrlError(`${inputs.workload} container ${container.name} has no env var ${variable}`, {
      hint: `name the variable that holds the URL with --database-url-env (annotation schema-rollback.io/database-url-env), or set ${DATABASE_URL_ENV}`,
    });
  }
  return { url: found.value, source: `${inputs.workload} container ${container.name} env ${variable}${found.from ? ` (${found.from})` : ''}`, secrets: [...secrets] };
}

export function splitRef(ref: string): [string, string] {
  const slash = ref.indexOf('/');
  return [ref.slice(0, slash), ref.slice(slash + 1)];
}

/** The pod template's containers of a Deployment, StatefulSet or DaemonSet. */
export function podContainers(workload: KubeObject): Container[] {
  const spec = workload.spec as { template?: { spec?: { containers?: Container[] } } } | undefined;
  return spec?.template?.spec?.containers ?? [];
}

function pickContainer(workload: KubeObject, ref: string, wanted: string | undefined): Container {
  const containers = podContainers(workload);
  const container = wanted ? containers.find((c) => c.name === wanted) : containers[0];
  if (!container) {
    throw new DatabaseUrlError(`${ref} has no container ${wanted ? `named "${wanted}"` : 'at all'}`, {
      hint: `containers: ${containers.map((c) => c.name).join(', ') || 'none'}; choose one with --container (annotation schema-rollback.io/container)`,
    });
  }
  return container;
}

/** Resolves env vars as the kubelet does: env wins over envFrom, later env entries see earlier ones. */
class EnvReader {
  private readonly secrets = new Map<string, Promise<Record<string, string>>>();
  constructor(
    private readonly kube: KubePort,
    private readonly container: Container,
  ) {}

  async lookup(name: string, depth = 0): Promise<{ value: string; from?: string } | undefined> {
    const env = this.container.env ?? [];
    let index = env.length - 1;
    while (index >= 0 && env[index]!.name !== name) index--;
    if (index >= 0) return this.fromEnv(env[index]!, env.slice(0, index), depth);
    for (const source of [...(this.container.envFrom ?? [])].reverse()) {
      const key = name.slice((source.prefix ?? '').length);
      if (!name.startsWith(source.prefix ?? '')) continue;
      if (source.secretRef) {
        const data = await this.secretData(source.secretRef.name);
        if (key in data) return { value: data[key]!, from: `envFrom Secret ${source.secretRef.name}` };
      } else if (source.configMapRef) {
        const data = (await this.kube.get('configmap', source.configMapRef.name)).data ?? {};
        if (key in data) return { value: data[key]!, from: `envFrom ConfigMap ${source.configMapRef.name}` };
      }
    }
    return undefined;
  }

  private async fromEnv(entry: EnvVar, earlier: EnvVar[], depth: number): Promise<{ value: string; from?: string }> {
    const ref = entry.valueFrom;
    if (ref?.secretKeyRef) {
      const { name, key } = ref.secretKeyRef;
      const data = await this.secretData(name);
      if (!(key in data)) throw new DatabaseUrlError(`Secret ${name} has no key ${key}`, { hint: 'check the workload\'s secretKeyRef' });
      return { value: data[key]!, from: `Secret ${name} key ${key}` };
    }
    if (ref?.configMapKeyRef) {
      const { name, key } = ref.configMapKeyRef;
      const value = (await this.kube.get('configmap', name)).data?.[key];
      if (value === undefined) throw new DatabaseUrlError(`ConfigMap ${name} has no key ${key}`, { hint: 'check the workload\'s configMapKeyRef' });
      return { value, from: `ConfigMap ${name} key ${key}` };
    }
    return { value: await this.expand(entry.value ?? '', earlier, depth) };
  }

  /** Kubernetes expands $(VAR) from variables defined earlier in env; $$ escapes; unknown stays as written. */
  private async expand(text: string, earlier: EnvVar[], depth: number): Promise<string> {
    if (depth > 8 || !text.includes('$')) return text;
    const reader = new EnvReader(this.kube, { ...this.container, env: earlier });
    let out = '';
    for (let i = 0; i < text.length; i++) {
      const ch = text[i]!;
      if (ch === '$' && text[i + 1] === '$') {
        out += '$';
        i++;
      } else if (ch === '$' && text[i + 1] === '(') {
        const end = text.indexOf(')', i);
        const name = end > 0 ? text.slice(i + 2, end) : '';
        const found = name ? await reader.lookup(name, depth + 1) : undefined;
        out += found ? found.value : text.slice(i, end > 0 ? end + 1 : text.length);
        i = end > 0 ? end : text.length;
      } else out += ch;
    }
    return out;
  }

  private secretData(name: string): Promise<Record<string, string>> {
    let data = this.secrets.get(name);
    if (!data) {
      data = this.kube.get('secret', name).then((s) => decodeSecretData(s.data ?? {}));
      this.secrets.set(name, data);
    }
    return data;
  }
}

function decodeSecretData(data: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]));
}
