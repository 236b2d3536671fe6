/**
 * Chart.yaml as text: reading its annotations, and changing one track's revision so that nothing
 * else in the file moves. The nodes are found with the `yaml` Document API and, where the value
 * already exists, only its characters are replaced (quoting style kept: `"13"` stays double-quoted,
 * a block literal `tracks: |` stays a block literal with its comments and flow lists); a key that
 * does not exist yet is added through the Document API. Every edit is checked by parsing the result
 * back. Text in, text out: reading and writing the file is the caller's business.
 */
import { isMap, isScalar, isSeq, LineCounter, parse, parseDocument, Scalar, type Document, type YAMLMap } from 'yaml';
import { DEFAULT_TRACK, KEYS, parseContract, PREFIX } from './contract.js';
import { UsageError } from './errors.js';

export interface ChartYaml {
  name: string;
  version: string;
  appVersion?: string;
  /** Every annotation, values as strings (Helm's map[string]string). */
  annotations: Record<string, string>;
}

function load(text: string, where: string): Document.Parsed {
  const doc = parseDocument(text, { uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new UsageError(`${where} is not valid YAML: ${doc.errors[0]!.message.split('\n')[0]}`, { hint: 'fix the file; helm lint shows the same problem' });
  }
  if (!isMap(doc.contents)) throw new UsageError(`${where} is not a YAML mapping`, { hint: 'a Chart.yaml holds apiVersion, name, version, ...' });
  return doc;
}

/** Reads name, version and annotations. UsageError when the file is not a chart's Chart.yaml. */
export function readChartYaml(text: string, where: string): ChartYaml {
  const data = load(text, where).toJS() as Record<string, unknown>;
  const annotations: Record<string, string> = {};
  const raw = data['annotations'];
  if (raw !== undefined && raw !== null) {
    if (typeof raw !== 'object' || Array.isArray(raw)) throw new UsageError(`${where}: annotations is not a mapping`);
    for (const [k, v] of Object.entries(raw)) annotations[k] = typeof v === 'string' ? v : String(v);
  }
  return {
    name: String(data['name'] ?? ''),
    version: String(data['version'] ?? ''),
    appVersion: data['appVersion'] === undefined ? undefined : String(data['appVersion']),
    annotations,
  };
}

/**
 * The 1-based line of a track's revision in the file (or of the annotation that holds it), for
 * findings that point at it; undefined when the file has no such place.
 */
export function revisionLine(text: string, track: string): number | undefined {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines });
  const annotations = doc.get('annotations', true);
  if (!isMap(annotations)) return undefined;
  const at = (offset: number) => lines.linePos(offset).line;
  const shorthand = annotations.get(PREFIX + KEYS.revision, true);
  if (isScalar(shorthand) && shorthand.range && track === DEFAULT_TRACK) return at(shorthand.range[0]);
  const tracks = annotations.get(PREFIX + KEYS.tracks, true);
  if (!isScalar(tracks) || !tracks.range || typeof tracks.value !== 'string') return keyLine(annotations, at);
  const inner = innerRevisionNode(tracks.value, track);
  if (inner && tracks.type === 'BLOCK_LITERAL') {
    const innerLine = (tracks.value.slice(0, inner.range![0]).match(/\n/g) ?? []).length;
    return at(tracks.range[0]) + 1 + innerLine;
  }
  return at(tracks.range[0]);
}

function keyLine(annotations: YAMLMap, at: (offset: number) => number): number | undefined {
  const pair = annotations.items.find((p) => isScalar(p.key) && String(p.key.value).startsWith(PREFIX));
  return isScalar(pair?.key) && pair.key.range ? at(pair.key.range[0]) : undefined;
}

/** The `revision` scalar of the track named `track` inside a tracks list's YAML text. */
function innerRevisionNode(innerText: string, track: string): Scalar | undefined {
  const inner = parseDocument(innerText, { schema: 'failsafe' });
  if (!isSeq(inner.contents)) return undefined;
  for (const item of inner.contents.items) {
    if (isMap(item) && String(item.get('name')) === track) {
      const node = item.get('revision', true);
      return isScalar(node) && node.range ? node : undefined;
    }
  }
  return undefined;
}

export interface RevisionEdit {
  track: string;
  revision: string;
  /** The track's tool: needed only when the chart has no contract yet (the edit then creates it). */
  tool?: string;
}

/**
 * Sets each track's revision in Chart.yaml's text and returns the new text (equal to `text` when
 * nothing changes). Tracks must exist in the contract, except when the chart has none: then the
 * edits create it (one track named main: the shorthand keys; otherwise a tracks list).
 */
export function setRevisions(text: string, edits: readonly RevisionEdit[], where: string): string {
  let out = text;
  for (const edit of edits) out = setRevision(out, edit, where);
  // Parse the result back: the contract must now say exactly what was asked, and nothing else moved.
  const after = parseContract(readChartYaml(out, where).annotations, where);
  for (const edit of edits) {
    const got = after?.tracks.find((t) => t.name === edit.track)?.revision;
    if (got !== edit.revision) throw new Error(`editing ${where}: track ${edit.track} reads back as ${got}, not ${edit.revision}`);
  }
  return out;
}

function setRevision(text: string, edit: RevisionEdit, where: string): string {
  const doc = load(text, where);
  const found = doc.get('annotations', true);
  const has = (key: string) => isMap(found) && found.has(PREFIX + key);
  if (!has(KEYS.tool) && !has(KEYS.revision) && !has(KEYS.tracks)) return createContract(doc, edit);
  const annotations = found as YAMLMap;
  if (has(KEYS.tracks)) {
    const node = annotations.get(PREFIX + KEYS.tracks, true);
    if (!isScalar(node) || typeof node.value !== 'string') throw new UsageError(`${where}: ${PREFIX}${KEYS.tracks} is not a string`);
    const innerText = node.value;
    const inner = innerRevisionNode(innerText, edit.track);
    if (inner === undefined) {
      throw new UsageError(`${where}: the tracks list has no track "${edit.track}" with a revision`, { hint: 'add the track to schema-rollback.io/tracks first' });
    }
    const replacement = formatLike(inner, edit.revision);
    const newInner = splice(innerText, inner.range![0], inner.range![1], replacement);
    // Map the inner scalar's place onto the file: a block literal's lines are the inner lines, indented.
    const spliced = spliceBlockLiteral(text, node, inner.range![0], inner.range![1], replacement, innerText);
    if (spliced !== undefined) return spliced;
    node.value = newInner;
    return doc.toString();
  }
  if (edit.track !== DEFAULT_TRACK) throw new UsageError(`${where}: the chart's one track is named ${DEFAULT_TRACK}, not ${edit.track}`);
  const node = annotations.get(PREFIX + KEYS.revision, true);
  if (isScalar(node) && node.range) return splice(text, node.range[0], node.range[1], formatLike(node, edit.revision, true));
  annotations.set(PREFIX + KEYS.revision, quoted(edit.revision));
  return doc.toString();
}

function createContract(doc: Document.Parsed, edit: RevisionEdit): string {
  if (edit.tool === undefined) throw new Error('creating a contract needs the tool');
  if (!isMap(doc.get('annotations', true))) doc.set('annotations', doc.createNode({}));
  const annotations = doc.get('annotations', true) as YAMLMap;
  // `annotations: {}` becomes a block mapping; a flow mapping that already holds keys stays one.
  if (annotations.items.length === 0) annotations.flow = false;
  if (edit.track === DEFAULT_TRACK) {
    annotations.set(PREFIX + KEYS.tool, quoted(edit.tool));
    annotations.set(PREFIX + KEYS.revision, quoted(edit.revision));
  } else {
    const list = new Scalar(`- name: ${edit.track}\n  tool: ${edit.tool}\n  revision: ${JSON.stringify(edit.revision)}\n`);
    list.type = 'BLOCK_LITERAL';
    annotations.set(PREFIX + KEYS.tracks, list);
  }
  return doc.toString();
}

function quoted(value: string): Scalar {
  const s = new Scalar(value);
  s.type = 'QUOTE_DOUBLE';
  return s;
}

/**
 * The new value written the way the old one was: double or single quotes kept; a plain scalar stays
 * plain only when it still reads back as the same string (an annotation must stay a string for Helm,
 * so `13` would become "13"). `outer`: the value is a Chart.yaml annotation (YAML core schema).
 */
function formatLike(node: Scalar, value: string, outer = false): string {
  if (node.type === 'QUOTE_SINGLE') return `'${value.replace(/'/g, "''")}'`;
  if (node.type === 'PLAIN' && /^[A-Za-z0-9_.][A-Za-z0-9_.,-]*$/.test(value)) {
    const back: unknown = parse(value);
    if (!outer || (typeof back === 'string' && back === value)) return value;
  }
  return JSON.stringify(value);
}

function splice(text: string, start: number, end: number, replacement: string): string {
  return text.slice(0, start) + replacement + text.slice(end);
}

/**
 * Replaces [innerStart, innerEnd) of a block literal's value directly in the file, or returns
 * undefined when the node is not a plain `|`/`|-`/`|+` block whose lines map one to one.
 */
function spliceBlockLiteral(text: string, node: Scalar, innerStart: number, innerEnd: number, replacement: string, innerText: string): string | undefined {
  if (node.type !== 'BLOCK_LITERAL' || !node.range) return undefined;
  const headerEnd = text.indexOf('\n', node.range[0]);
  if (headerEnd < 0 || !/^\|[-+]?\s*(#.*)?$/.test(text.slice(node.range[0], headerEnd))) return undefined;
  const lineNo = (innerText.slice(0, innerStart).match(/\n/g) ?? []).length;
  const column = innerStart - (innerText.lastIndexOf('\n', innerStart - 1) + 1);
  let at = headerEnd + 1;
  let indent: number | undefined;
  for (let line = 0; ; line++) {
    const end = text.indexOf('\n', at);
    const content = text.slice(at, end < 0 ? text.length : end);
    if (indent === undefined && content.trim() !== '') indent = content.length - content.trimStart().length;
    if (line === lineNo) break;
    if (end < 0) return undefined;
    at = end + 1;
  }
  if (indent === undefined) return undefined;
  const start = at + indent + column;
  const end = start + (innerEnd - innerStart);
  if (text.slice(start, end) !== innerText.slice(innerStart, innerEnd)) return undefined;
  return splice(text, start, end, replacement);
}
