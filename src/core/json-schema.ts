/**
 * A small JSON Schema checker for the subset the contract schema and the output schemas (schemas/*.v1.json)
 * use: type (one or a list), enum, const, pattern, min/maxLength, minimum, properties, required,
 * additionalProperties (false, or a schema for maps), items, minItems, oneOf, local $ref.
 * The published schema file is the single source of truth: the parser validates with it at run
 * time, so what chart CI checks and what the plugin accepts cannot drift apart. A full validator
 * (ajv) would add ~100 kB to a binary that starts on every helm call for 8 keywords.
 */

type SchemaType = 'object' | 'array' | 'string' | 'integer' | 'number' | 'boolean' | 'null';

export interface SchemaNode {
  $ref?: string;
  type?: SchemaType | SchemaType[];
  enum?: unknown[];
  const?: unknown;
  minimum?: number;
  oneOf?: SchemaNode[];
  pattern?: string;
  minLength?: number;
  maxLength?: number;
  properties?: Record<string, SchemaNode>;
  required?: string[];
  /** false: no other key; a schema: every other key's value (a map such as track -> revision). */
  additionalProperties?: boolean | SchemaNode;
  items?: SchemaNode;
  minItems?: number;
  $defs?: Record<string, SchemaNode>;
}

const SUPPORTED = new Set([
  '$schema', '$id', '$ref', '$defs', 'title', 'description', 'type', 'enum', 'pattern', 'minLength',
  'maxLength', 'properties', 'required', 'additionalProperties', 'items', 'minItems', 'const', 'minimum', 'oneOf',
]);

/** Returns one message per violation, each starting with the JSON path ("tracks[1].tool: ..."). */
export function checkSchema(root: SchemaNode, value: unknown): string[] {
  const problems: string[] = [];
  visit(root, root, value, '', problems);
  return problems;
}

function visit(root: SchemaNode, node: SchemaNode, value: unknown, path: string, out: string[]): void {
  for (const key of Object.keys(node)) {
    // Fail loudly if someone extends the schema with a keyword this checker would silently ignore.
    if (!SUPPORTED.has(key)) throw new Error(`json-schema: unsupported keyword "${key}" at ${path || '/'}`);
  }
  if (node.$ref) return visit(root, resolveRef(root, node.$ref), value, path, out);
  const at = path || '(document)';
  if (node.enum && !node.enum.includes(value)) {
    out.push(`${at}: ${JSON.stringify(value)} is not one of ${node.enum.map((v) => JSON.stringify(v)).join(', ')}`);
    return;
  }
  if (node.const !== undefined && value !== node.const) {
    out.push(`${at}: must be ${JSON.stringify(node.const)}`);
    return;
  }
  if (node.oneOf) return checkOneOf(root, node.oneOf, value, path, out);
  const types = node.type === undefined ? [] : Array.isArray(node.type) ? node.type : [node.type];
  if (types.length > 1) {
    const type = types.find((t) => hasType(t, value));
    if (type === undefined) return void out.push(`${at}: must be ${types.join(' or ')}`);
    return visitTyped(root, node, type, value, path, out);
  }
  if (types.length === 1) visitTyped(root, node, types[0]!, value, path, out);
}

function visitTyped(root: SchemaNode, node: SchemaNode, type: SchemaType, value: unknown, path: string, out: string[]): void {
  const at = path || '(document)';
  if (type === 'string') return checkString(node, value, at, out);
  if (type === 'array') return checkArray(root, node, value, path, out);
  if (type === 'object') return checkObject(root, node, value, path, out);
  if (!hasType(type, value)) return void out.push(`${at}: must be ${type === 'integer' ? 'an integer' : type === 'null' ? 'null' : `a ${type}`}`);
  if (node.minimum !== undefined && (value as number) < node.minimum) out.push(`${at}: must be at least ${node.minimum}`);
}

function hasType(type: SchemaType, value: unknown): boolean {
  switch (type) {
    case 'string': return typeof value === 'string';
    case 'integer': return Number.isInteger(value);
    case 'number': return typeof value === 'number' && Number.isFinite(value);
    case 'boolean': return typeof value === 'boolean';
    case 'null': return value === null;
    case 'array': return Array.isArray(value);
    case 'object': return typeof value === 'object' && value !== null && !Array.isArray(value);
  }
}

/**
 * Exactly one alternative must fit. When none does, the problems of the closest one are reported
 * (with a `kind` const, the alternative of that kind), so the message names the field at fault.
 */
function checkOneOf(root: SchemaNode, alternatives: SchemaNode[], value: unknown, path: string, out: string[]): void {
  const results = alternatives.map((alt) => {
    const problems: string[] = [];
    visit(root, alt, value, path, problems);
    return problems;
  });
  const fits = results.filter((p) => p.length === 0).length;
  if (fits === 1) return;
  if (fits > 1) return void out.push(`${path || '(document)'}: fits ${fits} of the oneOf alternatives, not exactly one`);
  out.push(...results.reduce((best, p) => (p.length < best.length ? p : best)));
}

function checkString(node: SchemaNode, value: unknown, at: string, out: string[]): void {
  if (typeof value !== 'string') return void out.push(`${at}: must be a string`);
  if (node.minLength !== undefined && value.length < node.minLength) out.push(`${at}: must not be empty`);
  if (node.maxLength !== undefined && value.length > node.maxLength) {
    out.push(`${at}: must be at most ${node.maxLength} characters`);
  }
  if (node.pattern !== undefined && !new RegExp(node.pattern, 'u').test(value)) {
    out.push(`${at}: ${JSON.stringify(value)} does not match ${node.pattern}`);
  }
}

function checkArray(root: SchemaNode, node: SchemaNode, value: unknown, path: string, out: string[]): void {
  if (!Array.isArray(value)) return void out.push(`${path || '(document)'}: must be a list`);
  if (node.minItems !== undefined && value.length < node.minItems) {
    out.push(`${path || '(document)'}: must have at least ${node.minItems} item(s)`);
  }
  if (node.items) value.forEach((item, i) => visit(root, node.items!, item, `${path}[${i}]`, out));
}

function checkObject(root: SchemaNode, node: SchemaNode, value: unknown, path: string, out: string[]): void {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return void out.push(`${path || '(document)'}: must be a mapping`);
  }
  const record = value as Record<string, unknown>;
  const prefix = path ? `${path}.` : '';
  for (const key of node.required ?? []) {
    if (record[key] === undefined) out.push(`${prefix}${key}: is required`);
  }
  for (const [key, child] of Object.entries(record)) {
    if (child === undefined) continue;
    const sub = node.properties?.[key] ?? (typeof node.additionalProperties === 'object' ? node.additionalProperties : undefined);
    if (sub) visit(root, sub, child, `${prefix}${key}`, out);
    else if (node.additionalProperties === false) {
      out.push(`${prefix}${key}: unknown field (known: ${Object.keys(node.properties ?? {}).join(', ')})`);
    }
  }
}

function resolveRef(root: SchemaNode, ref: string): SchemaNode {
  const match = /^#\/\$defs\/([\w-]+)$/.exec(ref);
  const target = match ? root.$defs?.[match[1]!] : undefined;
  if (!target) throw new Error(`json-schema: cannot resolve ${ref}`);
  return target;
}
