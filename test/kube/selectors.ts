/**
 * Label and field selectors as they arrive in `?labelSelector=` / `?fieldSelector=`.
 * Labels support the full set-based grammar (kubectl and helm use `=`, `in (…)` and `!key`);
 * fields support `path=value`, `path==value` and `path!=value` over any dotted path, which is
 * more than a real server allows but never less.
 */
import { ApiError, type KubeObject } from './types.js';

export type Matcher = (obj: KubeObject) => boolean;

/** Splits on commas that are not inside `( … )`. */
function splitTerms(s: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of s) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      out.push(cur);
      cur = '';
    } else cur += ch;
  }
  out.push(cur);
  return out.map((t) => t.trim()).filter(Boolean);
}

export function labelMatcher(selector: string | undefined | null): Matcher {
  if (!selector) return () => true;
  const tests = splitTerms(selector).map((term): ((l: Record<string, string>) => boolean) => {
    let m = /^([^\s!=]+)\s+(in|notin)\s+\((.*)\)$/.exec(term);
    if (m) {
      const [, key, op, list] = m as unknown as [string, string, string, string];
      const values = list.split(',').map((v) => v.trim());
      return op === 'in' ? (l) => key in l && values.includes(l[key]!) : (l) => !(key in l) || !values.includes(l[key]!);
    }
    m = /^([^\s!=]+)\s*(==|=|!=)\s*(.*)$/.exec(term);
    if (m) {
      const [, key, op, value] = m as unknown as [string, string, string, string];
      return op === '!=' ? (l) => l[key] !== value : (l) => l[key] === value;
    }
    if (term.startsWith('!')) return (l) => !(term.slice(1) in l);
    return (l) => term in l;
  });
  return (obj) => tests.every((t) => t(obj.metadata.labels ?? {}));
}

function valueAt(obj: unknown, path: string): string {
  let cur: unknown = obj;
  for (const part of path.split('.')) cur = cur && typeof cur === 'object' ? (cur as Record<string, unknown>)[part] : undefined;
  return cur === undefined || cur === null ? '' : String(cur);
}

export function fieldMatcher(selector: string | undefined | null): Matcher {
  if (!selector) return () => true;
  const tests = splitTerms(selector).map((term): Matcher => {
    const m = /^([^!=]+)(==|=|!=)(.*)$/.exec(term);
    if (!m) throw new ApiError(400, 'BadRequest', `unable to parse field selector term "${term}"`);
    const [, path, op, value] = m as unknown as [string, string, string, string];
    return op === '!=' ? (o) => valueAt(o, path) !== value : (o) => valueAt(o, path) === value;
  });
  return (obj) => tests.every((t) => t(obj));
}

/** Renders a LabelSelector object (`matchLabels` + `matchExpressions`) as a selector string. */
export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: string; values?: string[] }[];
}

export function selectorString(sel: LabelSelector | undefined): string {
  if (!sel) return '';
  const terms = Object.entries(sel.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`);
  for (const e of sel.matchExpressions ?? []) {
    if (e.operator === 'In') terms.push(`${e.key} in (${(e.values ?? []).join(',')})`);
    else if (e.operator === 'NotIn') terms.push(`${e.key} notin (${(e.values ?? []).join(',')})`);
    else if (e.operator === 'Exists') terms.push(e.key);
    else if (e.operator === 'DoesNotExist') terms.push(`!${e.key}`);
  }
  return terms.join(',');
}
