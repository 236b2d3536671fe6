/**
 * The run record (src/core/run-lock.ts) as a ConfigMap in the release's namespace, through kubectl:
 * it lives with the release, survives the operator's machine, and is readable by whoever may read
 * the release. Never holds a secret: holder, times, step names and repair commands only.
 */
import type { RunRecord, RunRecordPort } from '../core/ports.js';
import type { Kubectl } from './kubectl.js';
import { runRecordName } from '../core/run-lock.js';

const KEY = 'run.json';

export function createRunRecords(kube: Pick<Kubectl, 'getRaw' | 'applyServerSide' | 'deleteIfPresent'>, namespace: string, mask: (text: string) => string): RunRecordPort {
  return {
    async read(release) {
      const out = await kube.getRaw(`/api/v1/namespaces/${encodeURIComponent(namespace)}/configmaps/${encodeURIComponent(runRecordName(release))}`);
      if (out === undefined) return undefined;
      const text = (JSON.parse(out) as { data?: Record<string, string> }).data?.[KEY];
      return text ? (JSON.parse(text) as RunRecord) : undefined;
    },
    async write(record) {
      const configMap = {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: {
          name: runRecordName(record.release),
          labels: { 'app.kubernetes.io/managed-by': 'helm-schema-rollback', 'schema-rollback.io/release': record.release },
        },
        data: { [KEY]: JSON.stringify(record, (_key, value: unknown) => (typeof value === 'string' ? mask(value) : value), 2) },
      };
      // apply: creates the record or replaces it whole, in one call.
      await kube.applyServerSide(configMap, 'helm-schema-rollback');
    },
    async remove(release) {
      await kube.deleteIfPresent('configmap', runRecordName(release));
    },
  };
}
