/**
 * The -o json|yaml documents of the built binary, checked against their published schemas
 * (schemas/*.v1.json, README "Output for scripts") with the validator the plugin itself uses.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { checkSchema, type SchemaNode } from '../../src/core/json-schema.js';
import { repoRoot } from './binaries.js';

/** Each document kind and the file of its schema. */
export const OUTPUT_SCHEMA_FILES = {
  Plan: 'plan.v1.json',
  Result: 'result.v1.json',
  Status: 'status.v1.json',
  Annotation: 'annotate.v1.json',
  Verification: 'verify.v1.json',
  Revisions: 'revisions.v1.json',
  Snapshot: 'snapshot.v1.json',
  Capture: 'capture.v1.json',
  ForwardOnlyPlan: 'forward-only-plan.v1.json',
} as const;
export type OutputKind = keyof typeof OUTPUT_SCHEMA_FILES;

export function outputSchema(kind: OutputKind): SchemaNode {
  return JSON.parse(readFileSync(join(repoRoot, 'schemas', OUTPUT_SCHEMA_FILES[kind]), 'utf8')) as SchemaNode;
}

/**
 * The documents of one command's stdout. A run prints two (the Plan, then the Result): YAML
 * separates them with ---, JSON prints one pretty-printed object after the other (as jq reads them),
 * each closing with a `}` alone on its line.
 */
export function outputDocuments(stdout: string, format: 'json' | 'yaml'): Array<Record<string, unknown>> {
  if (format === 'yaml') {
    return parseAllDocuments(stdout).map((d) => {
      assert.deepEqual(d.errors, [], `not YAML:\n${stdout}`);
      return d.toJS() as Record<string, unknown>;
    });
  }
  return stdout.split(/(?<=^\})\n(?=\{)/m).map((text) => JSON.parse(text) as Record<string, unknown>);
}

/** The problems of one document against the schema of the kind it says it is. */
export function outputProblems(kind: OutputKind, document: unknown): string[] {
  return checkSchema(outputSchema(kind), document);
}

/**
 * Asserts that stdout holds exactly these kinds of documents, in this order, each valid against
 * its schema; returns them for the test's own assertions.
 */
export function assertOutputDocuments(stdout: string, format: 'json' | 'yaml', kinds: OutputKind[]): Array<Record<string, unknown>> {
  const documents = outputDocuments(stdout, format);
  assert.deepEqual(documents.map((d) => [d['apiVersion'], d['kind']]), kinds.map((k) => ['schema-rollback.io/v1', k]), stdout);
  documents.forEach((d, i) => assert.deepEqual(outputProblems(kinds[i]!, d), [], `${kinds[i]} document against schemas/${OUTPUT_SCHEMA_FILES[kinds[i]!]}:\n${stdout}`));
  return documents;
}
