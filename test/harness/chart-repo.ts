/**
 * A Helm chart repository on loopback: chart directories packaged with the real `helm package`,
 * indexed with `helm repo index`, served over node:http on 127.0.0.1. Tests then
 * `helm repo add NAME <url>` with their isolated Helm homes and install `NAME/CHART --version V`.
 *
 * (`--version` on `helm upgrade ./dir` is silently ignored for a local directory, so version
 * changes must go through a repository like this one.)
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, normalize, resolve, sep } from 'node:path';
import { helm3, helmEnv } from './binaries.js';
import { runOk } from './run.js';

export interface ChartSource {
  /** A chart directory (with Chart.yaml). */
  path: string;
  /** Overrides Chart.yaml's version (`helm package --version`), to publish one directory as several versions. */
  version?: string;
  /** Overrides Chart.yaml's appVersion (`helm package --app-version`). */
  appVersion?: string;
}

export interface ChartRepo {
  /** http://127.0.0.1:PORT, the argument of `helm repo add`. */
  url: string;
  /** The served directory: index.yaml and the .tgz files. */
  dir: string;
  /** Packages more charts and re-indexes; clients see them after `helm repo update`. */
  publish(charts: ChartSource[]): Promise<void>;
  close(): Promise<void>;
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

const TYPES: Record<string, string> = { '.yaml': 'application/x-yaml', '.tgz': 'application/gzip', '.prov': 'text/plain' };

export async function startChartRepo(dir: string, charts: ChartSource[]): Promise<ChartRepo> {
  const root = resolve(dir);
  mkdirSync(root, { recursive: true });
  const server = createServer((req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url ?? '/', 'http://repo').pathname));
    const file = join(root, path);
    if (req.method !== 'GET' || !file.startsWith(root + sep) || !isFile(file)) {
      res.writeHead(404, { 'Content-Type': 'text/plain' });
      return void res.end('not found\n');
    }
    const ext = Object.keys(TYPES).find((e) => file.endsWith(e));
    res.writeHead(200, { 'Content-Type': ext ? TYPES[ext]! : 'application/octet-stream' });
    res.end(readFileSync(file));
  });
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => ok());
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  // helm package reads no repositories here, but it must not touch the user's Helm config either.
  const helmHome = mkdtempSync(join(tmpdir(), 'chart-repo-helm-'));
  const env = { ...process.env, ...helmEnv(helmHome) };

  const publish = async (more: ChartSource[]) => {
    for (const c of more) {
      const args = ['package', resolve(c.path), '--destination', root];
      if (c.version) args.push('--version', c.version);
      if (c.appVersion) args.push('--app-version', c.appVersion);
      await runOk(helm3, args, { env });
    }
    await runOk(helm3, ['repo', 'index', root, '--url', url], { env });
  };
  try {
    await publish(charts);
  } catch (err) {
    server.close();
    rmSync(helmHome, { recursive: true, force: true });
    throw err;
  }
  return {
    url,
    dir: root,
    publish,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((ok) => server.close(() => ok()));
      rmSync(helmHome, { recursive: true, force: true });
    },
  };
}
