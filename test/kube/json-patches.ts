/**
 * The two standard patch formats: RFC 7386 JSON merge patch (`kubectl scale` PATCHes the scale
 * subresource with one, `kubectl patch --type merge`) and RFC 6902 JSON patch
 * (`kubectl patch --type json`).
 */
import { ApiError, clone, isPlainObject, jsonEqual } from './types.js';

/** RFC 7386: objects merge recursively, `null` deletes, anything else replaces. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isPlainObject(patch)) return clone(patch);
  const out: Record<string, unknown> = isPlainObject(target) ? clone(target) : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

interface Op {
  op: string;
  path: string;
  from?: string;
  value?: unknown;
}

const invalid = (msg: string) => new ApiError(422, 'Invalid', `the server rejected our request due to an error in our request: ${msg}`);

/** RFC 6901 pointer → unescaped tokens. */
function tokens(pointer: string): string[] {
  if (pointer === '') return [];
  if (!pointer.startsWith('/')) throw invalid(`invalid JSON pointer "${pointer}"`);
  return pointer
    .slice(1)
    .split('/')
    .map((t) => t.replace(/~1/g, '/').replace(/~0/g, '~'));
}

type Container = Record<string, unknown> | unknown[];

/** The parent container of the pointer's target and the last token. */
function parentOf(doc: unknown, pointer: string): [Container, string] {
  const ts = tokens(pointer);
  const last = ts.pop();
  if (last === undefined) throw invalid('cannot operate on the whole document');
  let cur: unknown = doc;
  for (const t of ts) {
    cur = Array.isArray(cur) ? cur[Number(t)] : isPlainObject(cur) ? cur[t] : undefined;
    if (cur === undefined) throw invalid(`path "${pointer}" does not exist`);
  }
  if (!Array.isArray(cur) && !isPlainObject(cur)) throw invalid(`path "${pointer}" does not exist`);
  return [cur, last];
}

function getAt(doc: unknown, pointer: string): unknown {
  let cur: unknown = doc;
  for (const t of tokens(pointer)) cur = Array.isArray(cur) ? cur[Number(t)] : isPlainObject(cur) ? cur[t] : undefined;
  if (cur === undefined) throw invalid(`path "${pointer}" does not exist`);
  return cur;
}

function add(doc: unknown, pointer: string, value: unknown): void {
  const [parent, key] = parentOf(doc, pointer);
  if (Array.isArray(parent)) {
    const i = key === '-' ? parent.length : Number(key);
    if (!(i >= 0 && i <= parent.length)) throw invalid(`index ${key} out of range`);
    parent.splice(i, 0, clone(value));
  } else parent[key] = clone(value);
}

function remove(doc: unknown, pointer: string): unknown {
  const [parent, key] = parentOf(doc, pointer);
  if (Array.isArray(parent)) {
    const i = Number(key);
    if (!(i >= 0 && i < parent.length)) throw invalid(`index ${key} out of range`);
    return parent.splice(i, 1)[0];
  }
  if (!(key in parent)) throw invalid(`path "${pointer}" does not exist`);
  const old = parent[key];
  delete parent[key];
  return old;
}

/** RFC 6902: applies every operation in order to a copy; a failing `test` rejects the whole patch. */
export function jsonPatch(doc: unknown, ops: unknown): unknown {
  if (!Array.isArray(ops)) throw invalid('a JSON patch must be an array of operations');
  const out = clone(doc);
  for (const op of ops as Op[]) {
    switch (op.op) {
      case 'add':
        add(out, op.path, op.value);
        break;
      case 'remove':
        remove(out, op.path);
        break;
      case 'replace':
        remove(out, op.path);
        add(out, op.path, op.value);
        break;
      case 'move':
        add(out, op.path, remove(out, op.from ?? ''));
        break;
      case 'copy':
        add(out, op.path, getAt(out, op.from ?? ''));
        break;
      case 'test':
        if (!jsonEqual(getAt(out, op.path), op.value)) throw invalid(`test operation failed at "${op.path}"`);
        break;
      default:
        throw invalid(`unknown JSON patch operation "${op.op}"`);
    }
  }
  return out;
}
