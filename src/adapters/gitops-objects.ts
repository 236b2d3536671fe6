/**
 * Argo CD Applications and Flux HelmReleases, read through kubectl in their own namespace (GitOps
 * mode, src/core/gitops.ts): an Application lives in Argo CD's namespace, not the release's.
 */
import { ClusterError, CommandFailedError } from '../core/errors.js';
import type { GitOpsObjectsPort } from '../core/gitops.js';
import type { Kubectl } from './kubectl.js';

export function createGitOpsObjects(kube: Pick<Kubectl, 'getIn'>): GitOpsObjectsPort {
  return {
    async get(resource, namespace, name) {
      try {
        return await kube.getIn(resource, namespace, name);
      } catch (err) {
        if (err instanceof CommandFailedError && /doesn't have a resource type/.test(err.stderr)) {
          throw new ClusterError(`the cluster serves no ${resource}: its controller's CRD is not installed`, {
            hint: '--gitops none rolls back with helm upgrade when no controller manages the release',
          });
        }
        throw err;
      }
    },
  };
}
