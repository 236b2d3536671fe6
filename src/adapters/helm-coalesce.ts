/**
 * Helm's chartutil.CoalesceValues(chart, config), ported rule for rule from Helm 3.17's
 * pkg/chartutil/coalesce.go: what `helm get values --all` prints for a stored release, the chart's
 * defaults under the user's values.
 *
 *   - a key the user did not set is copied from the defaults;
 *   - a user null over a default deletes the key (nested: a null the user wrote for a key the
 *     defaults also hold at that level); a top-level user null with no default stays null;
 *   - maps merge, the user's side winning; a user scalar or list over a default map wins, and a
 *     default scalar never replaces a user map;
 *   - globals and subcharts: a stored release's chart carries no subcharts (Helm serializes a chart
 *     without its dependencies), so the dependency walk of CoalesceValues has nothing to visit.
 *
 * Helm 4.1 answers the same except for nulls below the top level (checked against both majors,
 * test/kube/helm-storage.test.ts: 4.1 keeps a nested user null whose default is null too, and its
 * source has changed the rule since); hasNestedNull tells the caller when to ask helm instead.
 */

type Values = Record<string, unknown>;

function isTable(v: unknown): v is Values {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A deep copy of JSON values (copystructure.Copy in Helm). */
function copy<T>(v: T): T {
  return v === undefined ? v : (JSON.parse(JSON.stringify(v)) as T);
}

export function coalesceValues(chartValues: Values | null | undefined, config: Values | null | undefined): Values {
  const dest: Values = copy(config) ?? {};
  const defaults: Values = copy(chartValues) ?? {};
  for (const [key, val] of Object.entries(defaults)) {
    if (!(key in dest)) {
      dest[key] = val;
      continue;
    }
    const value = dest[key];
    if (value === null) delete dest[key];
    else if (isTable(value) && isTable(val)) coalesceTables(value, val);
  }
  return dest;
}

/** coalesceTablesFullKey(dst, src, merge=false): dst (the user's) is authoritative. */
function coalesceTables(dst: Values, src: Values): Values {
  for (const [key, val] of Object.entries(src)) {
    if (!(key in dst)) dst[key] = val;
    else if (dst[key] === null) delete dst[key];
    else if (isTable(val) && isTable(dst[key])) coalesceTables(dst[key] as Values, val);
  }
  return dst;
}

/** Whether a null sits inside a table of the values (not at the top level): where Helm majors part ways. */
export function hasNestedNull(values: Values | null | undefined): boolean {
  const within = (v: unknown): boolean => (Array.isArray(v) ? v.some(within) : isTable(v) ? Object.values(v).some((x) => x === null || within(x)) : false);
  return Object.values(values ?? {}).some(within);
}
