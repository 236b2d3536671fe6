/**
 * Discovering an unannotated chart version's revision: the target is rendered with the release's
 * values, the migrating workload's pod template is taken from the render, and the tool's heads
 * command runs in a Job from it; the answer is cached per chart version, track, image and command.
 * The render, the Job and the cache are doubles here; test/e2e/rollback-llamacloud.test.ts runs the
 * real helm template and the real `alembic heads` in a Job of the Kubernetes double.
 */
import assert from 'node:assert/strict';
import { discoverTargetRevisions, type DiscoveryDeps, type DiscoveryRequest } from '../../src/core/discover.js';
import { CommandFailedError, DiscoveryError, ExitCode } from '../../src/core/errors.js';
import type { KubeObject, ReleaseInfo } from '../../src/core/ports.js';
import type { TrackSpec } from '../../src/core/resolve.js';
import { alembic } from '../../src/tools/alembic.js';
import { getTool } from '../../src/tools/index.js';

const release: ReleaseInfo = { name: 'llamacloud', namespace: 'llama', revision: 4, status: 'deployed', chart: 'llamacloud', version: '0.1.48', annotations: {} };

function deployment(name: string, image: string, container = 'backend'): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name },
    spec: { template: { spec: { containers: [{ name: container, image, env: [{ name: 'DATABASE_URL', valueFrom: { secretKeyRef: { name: 'llamacloud-db', key: 'url' } } }] }] } } },
  };
}

interface Probe {
  workload: KubeObject;
  container: string | undefined;
  command: string[];
}

function world(opts: { manifests?: KubeObject[]; output?: string[]; probeError?: Error; renderError?: Error } = {}) {
  const probes: Probe[] = [];
  const renders: Array<{ release: string; chart: string; version: string; extra?: string[] }> = [];
  const store = new Map<string, string>();
  const deps: DiscoveryDeps = {
    helm: {
      async renderChart(request) {
        renders.push(request);
        if (opts.renderError) throw opts.renderError;
        return opts.manifests ?? [{ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'llamacloud-db' } }, deployment('llamacloud-backend', 'example/llamacloud-backend:0.1.47')];
      },
    },
    probe: {
      async probe(workload, container, command) {
        probes.push({ workload, container, command });
        if (opts.probeError) throw opts.probeError;
        return opts.output ?? ['f43d21f9cdb8 (head)'];
      },
    },
    discoveryCache: {
      async get(key) {
        return store.get(key);
      },
      async set(key, revision) {
        store.set(key, revision);
      },
    },
    tools: { get: getTool },
    log: { debug: () => undefined },
  };
  return { deps, probes, renders, store };
}

const request = (over: Partial<DiscoveryRequest> = {}): DiscoveryRequest => ({
  release,
  target: { ref: 'fixtures/llamacloud', name: 'llamacloud', version: '0.1.47' },
  workload: 'deployment/llamacloud-backend',
  container: 'backend',
  extraHelmArgs: ['--set', 'image.tag=0.1.47', '--wait'],
  renderArg: async (arg, track) => arg.replace('{{ .Track }}', track.name),
  ...over,
});

const main: TrackSpec = { name: 'main', tool: 'alembic' };

async function discoveryError(promise: Promise<unknown>, message: RegExp, hint: RegExp): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof DiscoveryError, `not a DiscoveryError: ${String(err)}`);
    assert.equal(err.code, ExitCode.discoveryFailed);
    assert.match(err.message, message);
    assert.match(err.hint ?? '', hint);
    return true;
  });
}

describe('discovering the target revision of a chart without annotations', () => {
  it('renders the target with the release and the user\'s flags, runs `alembic heads` from the rendered workload, and reads the one head', async () => {
    const w = world();
    const found = await discoverTargetRevisions(w.deps, request(), [main]);
    assert.deepEqual(found.get('main'), { revision: 'f43d21f9cdb8', image: 'example/llamacloud-backend:0.1.47', command: ['alembic', 'heads'], cached: false });
    assert.deepEqual(w.renders, [{ release: 'llamacloud', chart: 'fixtures/llamacloud', version: '0.1.47', extra: ['--set', 'image.tag=0.1.47', '--wait'] }]);
    assert.equal(w.probes.length, 1);
    assert.equal(w.probes[0]!.workload.metadata.name, 'llamacloud-backend');
    assert.equal(w.probes[0]!.container, 'backend');
    assert.deepEqual(w.probes[0]!.command, ['alembic', 'heads']);
  });

  it('asks again only when the chart version, track, image or command differ: a repeat is answered from the cache', async () => {
    const w = world();
    await discoverTargetRevisions(w.deps, request(), [main]);
    const again = await discoverTargetRevisions(w.deps, request(), [main]);
    assert.deepEqual(again.get('main'), { revision: 'f43d21f9cdb8', image: 'example/llamacloud-backend:0.1.47', command: ['alembic', 'heads'], cached: true });
    assert.equal(w.probes.length, 1, 'the cached answer runs no Job');
    // The release's values pin another image: another answer, another Job.
    w.deps.helm = { renderChart: async () => [deployment('llamacloud-backend', 'example/llamacloud-backend:0.1.47-hotfix')] };
    const pinned = await discoverTargetRevisions(w.deps, request(), [main]);
    assert.equal(pinned.get('main')!.cached, false);
    assert.equal(w.probes.length, 2);
  });

  it('keeps a contract command\'s way of calling alembic (poetry run ... -c FILE) for heads', async () => {
    const w = world();
    const track: TrackSpec = { ...main, command: ['poetry', 'run', 'alembic', '-c', 'migrations/{{ .Track }}.ini', 'downgrade', '{{ .Revision }}'] };
    await discoverTargetRevisions(w.deps, request(), [track]);
    assert.deepEqual(w.probes[0]!.command, ['poetry', 'run', 'alembic', '-c', 'migrations/main.ini', 'heads']);
  });

  it('finds the workload under kubectl\'s short names (deploy/NAME)', async () => {
    const w = world();
    const found = await discoverTargetRevisions(w.deps, request({ workload: 'deploy/llamacloud-backend' }), [main]);
    assert.equal(found.get('main')!.revision, 'f43d21f9cdb8');
  });

  it('refuses several heads, naming them: one track lands on one revision', async () => {
    const w = world({ output: ['e0005 (feat) (head)', 'd0002 (reports, feat) (head)'] });
    await discoveryError(discoverTargetRevisions(w.deps, request(), [main]), /printed several heads \(e0005, d0002\)/, /--target-revision REV/);
    assert.equal(w.store.size, 0, 'nothing cached');
  });

  it('refuses output with no head, quoting the last line', async () => {
    const w = world({ output: ['FAILED: No config file \'alembic.ini\' found'] });
    await discoveryError(discoverTargetRevisions(w.deps, request(), [main]), /printed no head \(last output: FAILED: No config file/, /--target-revision REV/);
  });

  it('says which workloads the render has when the named one is not among them', async () => {
    const w = world({ manifests: [deployment('llamacloud-api', 'x:1'), deployment('llamacloud-worker', 'x:1')] });
    await discoveryError(
      discoverTargetRevisions(w.deps, request(), [main]),
      /chart llamacloud 0\.1\.47, rendered with the release's values, has no deployment\/llamacloud-backend/,
      /its workloads: deployment\/llamacloud-api, deployment\/llamacloud-worker/,
    );
    assert.equal(w.probes.length, 0);
  });

  it('needs a workload to ask, and says how to name one', async () => {
    const w = world();
    await discoveryError(discoverTargetRevisions(w.deps, request({ workload: undefined }), [main]), /no workload is named/, /--workload KIND\/NAME/);
    assert.equal(w.renders.length, 0);
  });

  it('names the container choice when the rendered workload has no such container', async () => {
    const w = world();
    await discoveryError(discoverTargetRevisions(w.deps, request({ container: 'api' }), [main]), /has no container named "api"/, /containers: backend/);
  });

  it('cannot discover tools without a heads command (golang-migrate), and says to give the revision', async () => {
    const w = world();
    await discoveryError(discoverTargetRevisions(w.deps, request(), [{ name: 'core', tool: 'golang-migrate' }]), /cannot discover golang-migrate heads/, /--target-revision REV/);
    assert.equal(w.renders.length, 0, 'refused before rendering anything');
  });

  it('a failing Job or render is a DiscoveryError with the cause; a cluster failure stays one', async () => {
    const failedJob = world({ probeError: new Error('job/llamacloud-schema-rollback-main-x failed (BackoffLimitExceeded)') });
    await discoveryError(discoverTargetRevisions(failedJob.deps, request(), [main]), /alembic heads in example\/llamacloud-backend:0\.1\.47 failed: job\/.* failed \(BackoffLimitExceeded\)/, /--target-revision/);
    const badRender = world({ renderError: new CommandFailedError(['helm', 'template'], 1, 'Error: template: llamacloud/templates/backend.yaml:9: nil pointer') });
    await discoveryError(discoverTargetRevisions(badRender.deps, request(), [main]), /cannot render chart llamacloud 0\.1\.47 with the release's values/, /--target-revision/);
  });
});

describe('alembic heads, as discovery calls and reads it', () => {
  it('derives the heads command from the down command, or gives none without a "downgrade" to anchor on', () => {
    assert.deepEqual(alembic.offers.image!.heads!.command(undefined), ['alembic', 'heads']);
    assert.deepEqual(alembic.offers.image!.heads!.command(['python', '-m', 'alembic', '--config', 'db/alembic.ini', 'downgrade', '{{ .Revision }}']), ['python', '-m', 'alembic', '--config', 'db/alembic.ini', 'heads']);
    assert.equal(alembic.offers.image!.heads!.command(['./rollback.sh', '{{ .Revision }}']), undefined);
  });

  it('reads heads as alembic prints them, ids that look like numbers kept as written', () => {
    assert.deepEqual(alembic.offers.image!.heads!.parse(['0010 (head)']), ['0010']);
    assert.deepEqual(alembic.offers.image!.heads!.parse(['  f43d21f9cdb8 (head)  ', 'e0005 (feat) (head)', 'd0002 (reports, feat) (head)']), ['f43d21f9cdb8', 'e0005', 'd0002']);
    assert.deepEqual(alembic.offers.image!.heads!.parse(['INFO  [alembic.runtime.migration] Context impl PostgresqlImpl.', 'Traceback (most recent call last):', '']), []);
  });
});
