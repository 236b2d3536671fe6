/**
 * The contract chart maintainers write: Chart.yaml annotations under schema-rollback.io/ that say,
 * per migration track, which revision this chart version expects, and how this version's downs run.
 * Annotations are strings (Helm requires map[string]string), so structured values are YAML inside
 * the string. Every scalar is read with YAML's failsafe schema: a revision written 0010 stays
 * "0010", never the number 10. README "The contract" documents every key.
 */
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { ContractInvalidError } from './errors.js';
import { checkSchema, type SchemaNode } from './json-schema.js';
import { COMMAND_PLACEHOLDERS, NAME_PLACEHOLDERS, templateProblems } from './template.js';
import schemaJson from './contract.schema.json' with { type: 'json' };

export const PREFIX = 'schema-rollback.io/';

/** Annotation keys, without the prefix. */
export const KEYS = {
  contract: 'contract',
  tool: 'tool',
  revision: 'revision',
  table: 'table',
  schema: 'schema',
  command: 'command',
  tracks: 'tracks',
  workload: 'workload',
  container: 'container',
  databaseUrlEnv: 'database-url-env',
  stop: 'stop',
  forwardOnly: 'forward-only',
} as const;

/** The track name the one-track shorthand (tool + revision) gets. */
export const DEFAULT_TRACK = 'main';
/** The revision that means "nothing applied" (alembic's own word for it). */
export const BASE = 'base';

export interface Track {
  name: string;
  tool: string;
  /** The revision this chart version expects, exactly as written; BASE for none. */
  revision: string;
  table?: string;
  schema?: string;
  /** The down command for this track (argv, with placeholders); the tool's default when absent. */
  command?: string[];
}

export interface RunSpec {
  /** KIND/NAME of the workload that holds this version's code and the database URL. */
  workload?: string;
  container?: string;
  /** The container env var holding the database URL (plain value or from a Secret). */
  databaseUrlEnv?: string;
  /** Workloads that migrate on start, scaled to 0 before any down. */
  stop: string[];
}

export interface Contract {
  contract: 'v1';
  /** Empty when the chart declares a forward-only schema. */
  tracks: Track[];
  run: RunSpec;
  /**
   * schema-rollback.io/forward-only: the schema only moves forward (GORM AutoMigrate, Prisma or
   * TypeORM synchronize, ...), with no version table and no downs. The engine names it in messages.
   */
  forwardOnly?: { engine: string };
}

export const contractSchema = schemaJson as SchemaNode;

const TRACK_KEYS = [KEYS.tool, KEYS.revision, KEYS.table, KEYS.schema, KEYS.command];

/** True when any annotation carries our prefix. */
export function hasContract(annotations: Readonly<Record<string, string>>): boolean {
  return Object.keys(annotations).some((k) => k.startsWith(PREFIX));
}

/**
 * Parses the annotations of one chart version. Returns undefined when the chart has no
 * schema-rollback.io/ annotation at all; throws ContractInvalidError listing every problem otherwise.
 * `where` names the chart in messages ("chart kagent 0.9.0").
 */
export function parseContract(annotations: Readonly<Record<string, string>>, where: string): Contract | undefined {
  if (!hasContract(annotations)) return undefined;
  const problems: string[] = [];
  const doc = decode(annotations, problems);
  if (problems.length === 0) problems.push(...checkSchema(contractSchema, doc));
  if (problems.length === 0) problems.push(...semanticProblems(doc as Contract));
  if (problems.length > 0) throw new ContractInvalidError(where, problems);
  const contract = doc as Contract;
  // The schema has no tracks for a forward-only chart; the rest of the code reads an empty list.
  return { ...contract, tracks: contract.tracks ?? [] };
}

function decode(annotations: Readonly<Record<string, string>>, problems: string[]): unknown {
  const own = new Map<string, string>();
  const known = new Set<string>(Object.values(KEYS));
  for (const [key, value] of Object.entries(annotations)) {
    if (!key.startsWith(PREFIX)) continue;
    const short = key.slice(PREFIX.length);
    if (!known.has(short)) problems.push(`${key}: unknown annotation (known: ${[...known].map((k) => PREFIX + k).join(', ')})`);
    else own.set(short, value);
  }
  const shorthand = TRACK_KEYS.filter((k) => own.has(k));
  let tracks: unknown;
  if (own.has(KEYS.tracks)) {
    if (shorthand.length > 0) {
      problems.push(`${PREFIX}tracks cannot be combined with the one-track keys ${shorthand.map((k) => PREFIX + k).join(', ')}: move them into the tracks list`);
    }
    tracks = yamlValue(own.get(KEYS.tracks)!, KEYS.tracks, problems);
  } else if (own.has(KEYS.forwardOnly) && shorthand.length === 0) {
    tracks = undefined;
  } else if (shorthand.length > 0) {
    tracks = [
      dropUndefined({
        name: DEFAULT_TRACK,
        tool: own.get(KEYS.tool),
        revision: own.get(KEYS.revision),
        table: own.get(KEYS.table),
        schema: own.get(KEYS.schema),
        command: own.has(KEYS.command) ? commandValue(own.get(KEYS.command)!, problems) : undefined,
      }),
    ];
  } else {
    problems.push(`no track: set ${PREFIX}tool and ${PREFIX}revision, or ${PREFIX}tracks (or ${PREFIX}forward-only for a schema with no downs)`);
  }
  if (own.has(KEYS.forwardOnly) && (own.has(KEYS.tracks) || shorthand.length > 0)) {
    problems.push(`${PREFIX}forward-only cannot be combined with ${[...(own.has(KEYS.tracks) ? [KEYS.tracks] : []), ...shorthand].map((k) => PREFIX + k).join(', ')}: a forward-only schema has no version table and no downs`);
  }
  if (Array.isArray(tracks)) tracks = tracks.map((t) => normaliseTrack(t, problems));
  const run = dropUndefined({
    workload: own.get(KEYS.workload)?.trim(),
    container: own.get(KEYS.container)?.trim(),
    databaseUrlEnv: own.get(KEYS.databaseUrlEnv)?.trim(),
    stop: own.has(KEYS.stop) ? listValue(own.get(KEYS.stop)!, KEYS.stop, problems) : [],
  });
  const forwardOnly = own.has(KEYS.forwardOnly) ? { engine: own.get(KEYS.forwardOnly)!.trim() } : undefined;
  return dropUndefined({ contract: own.get(KEYS.contract)?.trim() ?? 'v1', tracks, run, forwardOnly });
}

/** A track's command may be written as a YAML list or as one string split on white space. */
function normaliseTrack(track: unknown, problems: string[]): unknown {
  if (typeof track !== 'object' || track === null || Array.isArray(track)) return track;
  const t = track as Record<string, unknown>;
  return typeof t['command'] === 'string' ? { ...t, command: commandValue(t['command'], problems) } : t;
}

/**
 * A down command given as text (the --command flag), read as the schema-rollback.io/command
 * annotation is: a YAML list, or words split on white space with {{ placeholders }} kept whole.
 * Returns the argv, or the problems with it.
 */
export function parseCommand(text: string): { command?: string[]; problems: string[] } {
  const problems: string[] = [];
  const value = commandValue(text, problems);
  if (problems.length > 0) return { problems };
  if (!Array.isArray(value) || value.length === 0 || !value.every((a) => typeof a === 'string' && a !== '')) {
    return { problems: ['a command is a non-empty list of words'] };
  }
  problems.push(...value.flatMap((arg: string) => templateProblems(arg, COMMAND_PLACEHOLDERS)));
  return problems.length > 0 ? { problems } : { command: value as string[], problems };
}

function commandValue(text: string, problems: string[]): unknown {
  const trimmed = text.trim();
  if (trimmed.startsWith('[') || trimmed.startsWith('-')) return yamlValue(trimmed, KEYS.command, problems);
  return words(trimmed);
}

/** Splits on white space (and commas, for lists) but keeps a {{ placeholder }} in one piece. */
function words(text: string, separators = '\\s'): string[] {
  return text.match(new RegExp(`(?:\\{\\{.*?\\}\\}|[^${separators}])+`, 'g')) ?? [];
}

/** Lists may be YAML ("[a, b]" or "- a") or separated by commas / white space. */
function listValue(text: string, key: string, problems: string[]): unknown {
  const trimmed = text.trim();
  if (trimmed.startsWith('[') || trimmed.startsWith('-')) return yamlValue(trimmed, key, problems);
  return words(trimmed, '\\s,');
}

function yamlValue(text: string, key: string, problems: string[]): unknown {
  try {
    return parseYaml(text, { schema: 'failsafe', uniqueKeys: true });
  } catch (err) {
    problems.push(`${PREFIX}${key}: not valid YAML: ${(err as Error).message.split('\n')[0]}`);
    return undefined;
  }
}

function semanticProblems(contract: Contract): string[] {
  const problems: string[] = [];
  const seen = new Set<string>();
  for (const [i, track] of (contract.tracks ?? []).entries()) {
    if (seen.has(track.name)) problems.push(`tracks[${i}].name: duplicate track name "${track.name}"`);
    seen.add(track.name);
    for (const arg of track.command ?? []) {
      problems.push(...templateProblems(arg, COMMAND_PLACEHOLDERS).map((p) => `tracks[${i}].command: ${p}`));
    }
  }
  const names = [contract.run.workload, ...contract.run.stop];
  for (const text of names) {
    if (text !== undefined) problems.push(...templateProblems(text, NAME_PLACEHOLDERS).map((p) => `run: ${p}`));
  }
  return problems;
}

/**
 * Renders a contract back to annotations, choosing the one-track shorthand when it fits, so that
 * parseContract(renderContract(c)) deep-equals c. Used by `annotate` and to print examples.
 */
export function renderContract(contract: Contract): Record<string, string> {
  const out: Record<string, string> = {};
  const [only, ...rest] = contract.tracks;
  if (contract.forwardOnly) {
    out[PREFIX + KEYS.forwardOnly] = contract.forwardOnly.engine;
  } else if (only && rest.length === 0 && only.name === DEFAULT_TRACK) {
    out[PREFIX + KEYS.tool] = only.tool;
    out[PREFIX + KEYS.revision] = only.revision;
    if (only.table) out[PREFIX + KEYS.table] = only.table;
    if (only.schema) out[PREFIX + KEYS.schema] = only.schema;
    if (only.command) out[PREFIX + KEYS.command] = flowList(only.command);
  } else {
    out[PREFIX + KEYS.tracks] = stringifyYaml(contract.tracks.map((t) => dropUndefined({ ...t })), {
      defaultStringType: 'QUOTE_DOUBLE',
      defaultKeyType: 'PLAIN',
    });
  }
  const { workload, container, databaseUrlEnv, stop } = contract.run;
  if (workload) out[PREFIX + KEYS.workload] = workload;
  if (container) out[PREFIX + KEYS.container] = container;
  if (databaseUrlEnv) out[PREFIX + KEYS.databaseUrlEnv] = databaseUrlEnv;
  if (stop.length > 0) out[PREFIX + KEYS.stop] = stop.join(', ');
  return out;
}

function flowList(items: string[]): string {
  return `[${items.map((s) => JSON.stringify(s)).join(', ')}]`;
}

function dropUndefined<T extends Record<string, unknown>>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}
