/**
 * alembic's revision graph, read statically from versions/*.py: no Python runs. Each file declares,
 * at module level, `revision`, `down_revision` (a string, None, or a tuple/list for a merge),
 * `branch_labels` and `depends_on` (None, a string, or a tuple/list), with or without a type
 * annotation (`revision: str = "ae10"`, as alembic >= 1.13's template writes). Values must be
 * literals: a file that computes its ids is refused with the file named, never guessed.
 *
 * The graph follows alembic.script.revision.RevisionMap: heads are the revisions no other names as
 * its down_revision (depends_on does not end a head), a branch label belongs to the revision that
 * declares it and to every revision that descends from it through down_revision links, so
 * `label@head` is the head among those. Reference: shared/reference/migration-tools.md §4.
 */
import { MigrationsError } from '../core/errors.js';
import type { MigrationFile, MigrationHistory } from '../core/ports.js';

export interface AlembicRevision {
  revision: string;
  downRevisions: string[];
  branchLabels: string[];
  dependsOn: string[];
  file: string;
}

const FIELDS = ['revision', 'down_revision', 'branch_labels', 'depends_on'] as const;
type Field = (typeof FIELDS)[number];

/** alembic's Script._from_filename: *.py, not __init__.py, not an editor's .# lock file. */
export function isRevisionFile(name: string): boolean {
  return name.endsWith('.py') && !name.startsWith('.#') && !name.startsWith('__init__');
}

/** Reads one revision file's module-level assignments. */
export function parseRevisionFile(file: MigrationFile): AlembicRevision {
  const text = stripStringsAndComments(file.body);
  const values = new Map<Field, string[] | null>();
  const assignment = /^(revision|down_revision|branch_labels|depends_on)[ \t]*(?::[^=\n]*)?=(?!=)[ \t]*/gm;
  for (let m = assignment.exec(text.code); m !== null; m = assignment.exec(text.code)) {
    const field = m[1] as Field;
    const start = m.index + m[0].length;
    const value = readLiteral(text, start, file.name, field);
    values.set(field, value);
  }
  const revision = values.get('revision');
  if (revision === undefined) {
    throw new MigrationsError(`${file.name}: no module-level "revision = '...'" assignment`, {
      hint: 'alembic refuses such a file too ("Could not determine revision id from filename"); every versions/*.py declares revision and down_revision',
    });
  }
  if (revision === null || revision.length !== 1) {
    throw new MigrationsError(`${file.name}: revision must be one string literal`);
  }
  return {
    revision: revision[0]!,
    downRevisions: values.get('down_revision') ?? [],
    branchLabels: values.get('branch_labels') ?? [],
    dependsOn: values.get('depends_on') ?? [],
    file: file.name,
  };
}

interface Stripped {
  /** The source with comments removed and every string literal replaced by a placeholder `\u0000N\u0000`. */
  code: string;
  strings: string[];
}

/**
 * Blanks out comments and replaces string literals by numbered placeholders, so that a docstring
 * ("Revision ID: ...", or even "revision = 'x'" in prose) can never look like an assignment.
 */
function stripStringsAndComments(source: string): Stripped {
  const strings: string[] = [];
  let code = '';
  let i = 0;
  while (i < source.length) {
    const c = source[i]!;
    if (c === '#') {
      while (i < source.length && source[i] !== '\n') i++;
      continue;
    }
    const prefix = /^[rRuUbBfF]{0,2}(?='|")/.exec(source.slice(i, i + 3));
    const quoteAt = prefix !== null && (i === 0 || !/[A-Za-z0-9_]/.test(source[i - 1]!)) ? i + prefix[0].length : -1;
    if (c === '"' || c === "'" || quoteAt >= 0) {
      const q0 = quoteAt >= 0 ? quoteAt : i;
      const raw = /r/i.test(source.slice(i, q0));
      const quote = source[q0]!;
      const triple = source.startsWith(quote.repeat(3), q0);
      const delimiter = triple ? quote.repeat(3) : quote;
      let j = q0 + delimiter.length;
      let value = '';
      while (j < source.length && !source.startsWith(delimiter, j)) {
        if (source[j] === '\\' && !raw) {
          value += source[j + 1] ?? '';
          j += 2;
          continue;
        }
        if (!triple && source[j] === '\n') break;
        value += source[j];
        j++;
      }
      strings.push(value);
      code += `\u0000${strings.length - 1}\u0000`;
      // Keep line structure for the ^-anchored assignment search.
      code += '\n'.repeat((source.slice(i, j).match(/\n/g) ?? []).length);
      i = j + delimiter.length;
      continue;
    }
    code += c;
    i++;
  }
  return { code, strings };
}

/** None, 'x', ('a', 'b'), ['a'], ("a",) after `=`; anything else is refused. */
function readLiteral(text: Stripped, start: number, file: string, field: Field): string[] | null {
  const rest = text.code.slice(start);
  const refuse = () =>
    new MigrationsError(`${file}: ${field} is not a literal the plugin can read without running Python (${JSON.stringify(rest.split('\n')[0]!.replace(/\u0000(\d+)\u0000/g, (_, n: string) => JSON.stringify(text.strings[Number(n)])).trim())})`, {
      hint: `write ${field} as a string, None, or a tuple of strings, as "alembic revision" generates it`,
    });
  if (/^None\b/.test(rest)) return null;
  const single = /^\u0000(\d+)\u0000/.exec(rest);
  if (single) return [text.strings[Number(single[1])]!];
  const open = rest[0];
  if (open === '(' || open === '[') {
    const close = open === '(' ? ')' : ']';
    const end = rest.indexOf(close);
    if (end < 0) throw refuse();
    const inner = rest.slice(1, end).replace(/\s+/g, '');
    if (inner === '') return [];
    const items = inner.split(',').filter((s, k, all) => !(s === '' && k === all.length - 1));
    return items.map((item) => {
      const m = /^\u0000(\d+)\u0000$/.exec(item);
      if (!m) throw refuse();
      return text.strings[Number(m[1])]!;
    });
  }
  throw refuse();
}

/** The graph of a versions directory; throws MigrationsError where alembic would refuse it. */
export function readAlembicHistory(files: readonly MigrationFile[]): MigrationHistory & { graph: Map<string, AlembicRevision> } {
  const graph = new Map<string, AlembicRevision>();
  const ignored: string[] = [];
  for (const file of [...files].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    if (!isRevisionFile(file.name)) {
      ignored.push(file.name);
      continue;
    }
    const rev = parseRevisionFile(file);
    const seen = graph.get(rev.revision);
    if (seen) throw new MigrationsError(`revision ${rev.revision} is declared twice: in ${seen.file} and ${rev.file}`, { hint: 'give one of them a new revision id' });
    graph.set(rev.revision, rev);
  }
  const branches: Record<string, string> = {};
  for (const rev of graph.values()) {
    for (const label of rev.branchLabels) {
      if (branches[label] !== undefined) throw new MigrationsError(`branch label "${label}" is declared by both ${branches[label]} and ${rev.revision}`);
      if (graph.has(label)) throw new MigrationsError(`branch label "${label}" of ${rev.revision} is also a revision id`);
      branches[label] = rev.revision;
    }
  }
  for (const rev of graph.values()) {
    for (const down of rev.downRevisions) {
      if (!graph.has(down)) {
        throw new MigrationsError(`revision ${down}, the down_revision of ${rev.revision} (${rev.file}), is not among the files`, {
          hint: 'alembic refuses this too ("Revision ... referenced from ... is not present"): restore the missing file or fix down_revision',
        });
      }
    }
    for (const dep of rev.dependsOn) {
      if (!graph.has(dep) && branches[dep] === undefined) {
        throw new MigrationsError(`depends_on ${dep} of ${rev.revision} (${rev.file}) is neither a revision nor a branch label among the files`);
      }
    }
  }
  const downOf = (id: string) => graph.get(id)?.downRevisions ?? [];
  // Cycles make alembic loop; refuse them with the revisions named.
  const state = new Map<string, 1 | 2>();
  const visit = (id: string, path: string[]): void => {
    if (state.get(id) === 2) return;
    if (state.get(id) === 1) throw new MigrationsError(`the revisions form a cycle: ${[...path.slice(path.indexOf(id)), id].join(' -> ')}`);
    state.set(id, 1);
    for (const d of downOf(id)) visit(d, [...path, id]);
    state.set(id, 2);
  };
  for (const id of graph.keys()) visit(id, []);

  const named = new Set([...graph.values()].flatMap((r) => r.downRevisions));
  const heads = [...graph.keys()].filter((id) => !named.has(id)).sort();
  const ancestorsCache = new Map<string, Set<string>>();
  const ancestors = (id: string): Set<string> => {
    let found = ancestorsCache.get(id);
    if (found) return found;
    found = new Set();
    const stack = [...downOf(id)];
    while (stack.length > 0) {
      const next = stack.pop()!;
      if (found.has(next)) continue;
      found.add(next);
      stack.push(...downOf(next));
    }
    ancestorsCache.set(id, found);
    return found;
  };
  return {
    revisions: topological(graph),
    heads,
    branches,
    isAncestor: (a, r) => a !== r && ancestors(r).has(a),
    ignored,
    graph,
  };
}

/** Oldest first: each revision after its down_revisions (ties by id, for stable output). */
function topological(graph: Map<string, AlembicRevision>): string[] {
  const out: string[] = [];
  const done = new Set<string>();
  const add = (id: string) => {
    if (done.has(id)) return;
    done.add(id);
    for (const d of [...(graph.get(id)?.downRevisions ?? [])].sort()) add(d);
    out.push(id);
  };
  for (const id of [...graph.keys()].sort()) add(id);
  return out;
}
