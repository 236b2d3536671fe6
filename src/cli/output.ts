/** Rendering for people (aligned tables) and for programs (-o json | -o yaml). */
import { stringify as stringifyYaml } from 'yaml';

export const OUTPUT_FORMATS = ['table', 'json', 'yaml'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

/** Columns padded to the widest cell; no trailing spaces. */
export function renderTable(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd();
  return [line(headers), ...rows.map(line)].join('\n') + '\n';
}

/**
 * Every -o json|yaml document starts with these two fields, as Kubernetes objects do: scripts check
 * them, and schemas/KIND.v1.json describes the rest. Within v1 fields are only ever added.
 */
export const OUTPUT_API_VERSION = 'schema-rollback.io/v1';

/** The document kinds, one per output; each has its schema in schemas/ (README "Output for scripts"). */
export type OutputKind = 'Plan' | 'Result' | 'Status' | 'Annotation' | 'Verification' | 'Revisions' | 'Snapshot' | 'Capture' | 'ForwardOnlyPlan';

export function renderData(kind: OutputKind, data: object, format: 'json' | 'yaml'): string {
  const document = { apiVersion: OUTPUT_API_VERSION, kind, ...data };
  return format === 'json' ? `${JSON.stringify(document, null, 2)}\n` : stringifyYaml(document);
}
