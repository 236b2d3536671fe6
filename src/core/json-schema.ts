/**
 * A small JSON Schema checker for the subset the contract schema uses (type, enum, pattern,
 * min/maxLength, properties, required, additionalProperties:false, items, minItems, local $ref).
 * The published schema file is the single source of truth: the parser validates with it at run
 * time, so what chart CI checks and what the plugin accepts cannot drift apart. A full validator
 * (ajv) would add ~100 kB to a binary that starts on every helm call for 8 keywords.
 */

export interface SchemaNode {
  $ref?: string;
  type?: 'object' | 'array' | 'string';
  enum?: unknown[];
  pattern?: string;
  minLength?: number;
  maxLength?: number;
  properties?: Record<string, SchemaNode>;
  required?: string[];
  additionalProperties?: boolean;
  items?: SchemaNode;
  minItems?: number;
  $defs?: Record<string, SchemaNode>;
}

const SUPPORTED = new Set([
  '$schema', '$id', '$ref', '$defs', 'title', 'description', 'type', 'enum', 'pattern', 'minLength',
  'maxLength', 'properties', 'required', 'additionalProperties', 'items', 'minItems',
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
  if (node.type === 'string') return checkString(node, value, at, out);
  if (node.type === 'array') return checkArray(root, node, value, path, out);
  if (node.type === 'object') return checkObject(root, node, value, path, out);
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
    const sub = node.properties?.[key];
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
