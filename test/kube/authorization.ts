/**
 * Authorization as a test sets it: everything is allowed unless a test denies a (verb, group,
 * resource[, subresource][, name]) with KubeDouble.deny(). A denied request is answered as a real
 * API server answers it (403 Forbidden, RBAC's message), and SelfSubjectAccessReviews
 * (authorization.k8s.io/v1, what `kubectl auth can-i` creates) answer from the same rules, so a test
 * proves that a pre-check asking the API catches exactly what would have failed later.
 *
 * Request verbs follow the API server's request-info resolver: GET of a name is get, of a
 * collection list (watch with ?watch), POST create, PUT update, PATCH patch, DELETE of a name
 * delete, of a collection deletecollection. A WebSocket GET of pods/exec (or attach, portforward)
 * is authorized as create, as Kubernetes does since 1.31 (AuthorizePodWebsocketUpgradeCreatePermission).
 */
import type { ResourceRoute } from './server.js';
import { ApiError, type KubeObject } from './types.js';

/** The user every request is made as: the kubeconfig's token names no one. */
export const USER = 'fake';

/** What a rule denies; unset fields match anything. */
export interface DenyRule {
  verb: string;
  /** API group, "" for core; any group when unset. */
  group?: string;
  /** Plural resource name, without the subresource: "deployments". */
  resource: string;
  /** "scale", "exec", "log", ...; unset matches the resource and all its subresources. */
  subresource?: string;
  /** One object's name; unset matches every name. */
  name?: string;
  /** One namespace; unset matches every namespace. */
  namespace?: string;
}

/** The attributes a request is authorized with (SubjectAccessReview's resourceAttributes). */
export interface ResourceAttributes {
  verb: string;
  group: string;
  resource: string;
  subresource?: string;
  name?: string;
  namespace?: string;
}

export class Authorizer {
  readonly denied: DenyRule[] = [];

  deny(rule: DenyRule): () => void {
    this.denied.push(rule);
    return () => {
      const at = this.denied.indexOf(rule);
      if (at >= 0) this.denied.splice(at, 1);
    };
  }

  allows(a: ResourceAttributes): boolean {
    return !this.denied.some(
      (r) =>
        r.verb === a.verb &&
        r.resource === a.resource &&
        (r.group === undefined || r.group === a.group) &&
        (r.subresource === undefined || r.subresource === (a.subresource ?? '')) &&
        (r.name === undefined || r.name === a.name) &&
        (r.namespace === undefined || r.namespace === a.namespace),
    );
  }

  /** Throws the API server's 403 when the request is denied. */
  check(a: ResourceAttributes): void {
    if (this.allows(a)) return;
    const resource = a.subresource ? `${a.resource}/${a.subresource}` : a.resource;
    const what = a.name ? `${a.resource}${a.group ? `.${a.group}` : ''} "${a.name}"` : `${a.resource}${a.group ? `.${a.group}` : ''}`;
    const scope = a.namespace ? ` in the namespace "${a.namespace}"` : ' at the cluster scope';
    throw new ApiError(403, 'Forbidden', `${what} is forbidden: User "${USER}" cannot ${a.verb} resource "${resource}" in API group "${a.group}"${scope}`, {
      name: a.name,
      group: a.group,
      kind: a.resource,
    });
  }

  /** Answers a SelfSubjectAccessReview: the spec back, with status.allowed (and RBAC's empty reason when not). */
  review(body: KubeObject): KubeObject {
    const spec = (body.spec ?? {}) as { resourceAttributes?: Partial<ResourceAttributes>; nonResourceAttributes?: unknown };
    const ra = spec.resourceAttributes;
    if (!ra) throw new ApiError(422, 'Invalid', 'SelfSubjectAccessReview.authorization.k8s.io is invalid: spec.resourceAttributes: the double answers resource attributes only');
    const allowed = this.allows({
      verb: ra.verb ?? '',
      group: ra.group ?? '',
      resource: ra.resource ?? '',
      subresource: ra.subresource || undefined,
      name: ra.name || undefined,
      namespace: ra.namespace || undefined,
    });
    return {
      kind: 'SelfSubjectAccessReview',
      apiVersion: 'authorization.k8s.io/v1',
      metadata: {},
      spec,
      status: allowed ? { allowed: true, reason: 'kube double: allowed' } : { allowed: false },
    };
  }
}

/** The attributes of an HTTP request to a resource path, as the API server's request-info resolver derives them. */
export function requestAttributes(method: string, route: ResourceRoute, query: URLSearchParams, upgrade = false): ResourceAttributes {
  const { def, ns, name, sub } = route;
  const watch = query.get('watch') === 'true' || query.get('watch') === '1';
  const verb = upgrade
    ? 'create'
    : method === 'GET'
      ? name ? 'get' : watch ? 'watch' : 'list'
      : method === 'POST'
        ? 'create'
        : method === 'PUT'
          ? 'update'
          : method === 'PATCH'
            ? 'patch'
            : method === 'DELETE'
              ? name ? 'delete' : 'deletecollection'
              : method.toLowerCase();
  return { verb, group: def.group, resource: def.resource, subresource: sub, name, namespace: def.namespaced ? ns : undefined };
}
