/**
 * The snapshot records of a release (src/core/snapshot.ts) as one ConfigMap in the release's
 * namespace, RELEASE-schema-rollback-snapshots, one key per chart version: readable by whoever may
 * read the release, outliving the operator's machine. Never holds a secret: names, times, sizes,
 * row counts and checksums only.
 */
import type { SnapshotRecord, SnapshotRecordPort } from '../core/snapshot.js';
import type { Kubectl } from './kubectl.js';

export function snapshotRecordName(release: string): string {
  return `${release}-schema-rollback-snapshots`;
}

/** A ConfigMap key per chart version: keys allow [-._a-zA-Z0-9], a SemVer's "+" does not fit. */
function keyOf(chartVersion: string): string {
  return `${chartVersion.replace(/[^-._a-zA-Z0-9]/g, '_')}.json`;
}

export function createSnapshotRecords(kube: Pick<Kubectl, 'run'>, namespace: string): SnapshotRecordPort {
  const read = async (release: string): Promise<Record<string, string>> => {
    try {
      // --raw: a 404 then does not also GET the namespace (see run-records.ts).
      const out = await kube.run(['get', '--raw', `/api/v1/namespaces/${encodeURIComponent(namespace)}/configmaps/${encodeURIComponent(snapshotRecordName(release))}`]);
      return (JSON.parse(out) as { data?: Record<string, string> }).data ?? {};
    } catch (err) {
      if (err instanceof Error && /\(NotFound\)|not found/.test(err.message)) return {};
      throw err;
    }
  };
  return {
    async list(release) {
      return Object.values(await read(release)).map((text) => JSON.parse(text) as SnapshotRecord);
    },
    async put(record) {
      const data = { ...(await read(record.release)), [keyOf(record.chartVersion)]: JSON.stringify(record, null, 2) };
      const configMap = {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: {
          name: snapshotRecordName(record.release),
          labels: { 'app.kubernetes.io/managed-by': 'helm-schema-rollback', 'schema-rollback.io/release': record.release },
        },
        data,
      };
      await kube.run(['apply', '--server-side', '--force-conflicts', '--field-manager=helm-schema-rollback', '-f', '-'], JSON.stringify(configMap));
    },
  };
}
