/**
 * Reads Helm's release records straight from the store, for assertions that should not depend on
 * running helm. Storage is the same in Helm 3 and 4: Secret (or ConfigMap with HELM_DRIVER=configmap)
 * `sh.helm.release.v1.<name>.v<revision>`, labels name/owner=helm/status/version, and
 * `data.release` = base64(gzip(JSON)); a Secret adds its own base64 on top.
 */
import { gunzipSync } from 'node:zlib';
import type { KubeObject } from './types.js';

export interface HelmRelease {
  name: string;
  namespace: string;
  version: number;
  info: { status: string; description?: string; first_deployed?: string; last_deployed?: string; [k: string]: unknown };
  chart: { metadata: { name: string; version: string; appVersion?: string; annotations?: Record<string, string>; [k: string]: unknown }; [k: string]: unknown };
  config?: Record<string, unknown>;
  manifest: string;
  [k: string]: unknown;
}

export function decodeRelease(obj: KubeObject): HelmRelease {
  const field = obj.data?.release as string | undefined;
  if (!field) throw new Error(`${obj.kind} ${obj.metadata.name} holds no Helm release`);
  const payload = obj.kind === 'Secret' ? Buffer.from(field, 'base64').toString('utf8') : field;
  let bytes = Buffer.from(payload, 'base64');
  if (bytes[0] === 0x1f && bytes[1] === 0x8b) bytes = gunzipSync(bytes);
  return JSON.parse(bytes.toString('utf8')) as HelmRelease;
}
