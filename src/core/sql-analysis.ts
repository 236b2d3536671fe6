/**
 * What a down script destroys, read from its SQL text alone (no database, no I/O): tables and
 * columns dropped, column types changed, rows deleted or truncated, schemas dropped with CASCADE.
 * Statements it cannot read (DO blocks, EXECUTE, CALL, an unknown command, a function call that may
 * write) are reported as such, never passed over in silence. Comments, string literals,
 * dollar-quoted bodies (function bodies are not run by the CREATE) and quoted identifiers are
 * tokenised as PostgreSQL reads them.
 */

/** A relation as a statement names it: unquoted parts folded to lower case, quoted ones kept. */
export interface SqlName {
  schema?: string;
  name: string;
}

export type SqlFinding =
  | { kind: 'drop-table'; table: SqlName; statement: string }
  | { kind: 'drop-column'; table: SqlName; column: string; statement: string }
  | { kind: 'type-change'; table: SqlName; column: string; toType: string; statement: string }
  | { kind: 'delete'; table: SqlName; where: boolean; statement: string }
  | { kind: 'truncate'; table: SqlName; statement: string }
  | { kind: 'drop-schema'; schema: string; statement: string }
  /** A statement that may destroy data the analyser cannot see; `table` when the statement names one. */
  | { kind: 'unknown'; reason: string; table?: SqlName; statement: string };

type Token = (
  | { t: 'word'; v: string; raw: string }
  | { t: 'ident'; v: string; raw: string }
  | { t: 'string'; raw: string }
  | { t: 'num'; raw: string }
  | { t: 'param'; raw: string }
  | { t: 'punct'; v: string; raw: string }
) & { source?: string; at?: number };

/** Splits SQL into tokens; comments and whitespace are dropped. */
export function tokenize(sql: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  const n = sql.length;
  while (i < n) {
    const c = sql[i]!;
    // Each token remembers where it starts, so that a statement is quoted as written.
    const at = i;
    const push = (tok: Token) => tokens.push({ ...tok, source: sql, at });
    if (/\s/.test(c)) {
      i++;
    } else if (c === '-' && sql[i + 1] === '-') {
      while (i < n && sql[i] !== '\n') i++;
    } else if (c === '/' && sql[i + 1] === '*') {
      // Block comments nest in PostgreSQL.
      let depth = 0;
      do {
        if (sql[i] === '/' && sql[i + 1] === '*') { depth++; i += 2; } else if (sql[i] === '*' && sql[i + 1] === '/') { depth--; i += 2; } else i++;
      } while (i < n && depth > 0);
    } else if (c === "'" || ((c === 'E' || c === 'e') && sql[i + 1] === "'")) {
      const escapes = c !== "'";
      i += escapes ? 2 : 1;
      while (i < n) {
        if (escapes && sql[i] === '\\') { i += 2; continue; }
        if (sql[i] === "'") {
          if (sql[i + 1] === "'") { i += 2; continue; }
          i++;
          break;
        }
        i++;
      }
      push({ t: 'string', raw: sql.slice(at, i) });
    } else if (c === '"') {
      let v = '';
      i++;
      while (i < n) {
        if (sql[i] === '"') {
          if (sql[i + 1] === '"') { v += '"'; i += 2; continue; }
          i++;
          break;
        }
        v += sql[i];
        i++;
      }
      push({ t: 'ident', v, raw: sql.slice(at, i) });
    } else if (c === '$') {
      const tag = /^\$([A-Za-z_\u0080-\uffff][A-Za-z0-9_\u0080-\uffff]*)?\$/.exec(sql.slice(i));
      if (tag) {
        const end = sql.indexOf(tag[0], i + tag[0].length);
        const stop = end < 0 ? n : end + tag[0].length;
        push({ t: 'string', raw: sql.slice(i, stop) });
        i = stop;
      } else {
        const m = /^\$[0-9]*/.exec(sql.slice(i))!;
        push({ t: 'param', raw: m[0] });
        i += m[0].length;
      }
    } else if (/[A-Za-z_\u0080-\uffff]/.test(c)) {
      const m = /^[A-Za-z_\u0080-\uffff][A-Za-z0-9_$\u0080-\uffff]*/.exec(sql.slice(i))!;
      push({ t: 'word', v: m[0].toLowerCase(), raw: m[0] });
      i += m[0].length;
    } else if (/[0-9]/.test(c) || (c === '.' && /[0-9]/.test(sql[i + 1] ?? ''))) {
      const m = /^[0-9.]+(e[+-]?[0-9]+)?/i.exec(sql.slice(i))!;
      push({ t: 'num', raw: m[0] });
      i += m[0].length;
    } else if (c === ':' && sql[i + 1] === ':') {
      push({ t: 'punct', v: '::', raw: '::' });
      i += 2;
    } else {
      push({ t: 'punct', v: c, raw: c });
      i++;
    }
  }
  return tokens;
}

/**
 * Splits tokens into statements at top-level semicolons. A SQL-standard function body
 * (`BEGIN ATOMIC ... END`) holds semicolons of its own and stays one statement.
 */
function statements(tokens: Token[]): Token[][] {
  const out: Token[][] = [];
  let current: Token[] = [];
  let atomic = 0;
  for (let k = 0; k < tokens.length; k++) {
    const tok = tokens[k]!;
    if (tok.t === 'word' && current[0]?.t === 'word' && current[0].v === 'create') {
      if (tok.v === 'begin' && isWord(tokens[k + 1], 'atomic')) atomic++;
      else if (atomic > 0 && tok.v === 'case') atomic++;
      else if (atomic > 0 && tok.v === 'end') atomic--;
    }
    if (tok.t === 'punct' && tok.v === ';' && atomic === 0) {
      if (current.length > 0) out.push(current);
      current = [];
    } else {
      current.push(tok);
    }
  }
  if (current.length > 0) out.push(current);
  return out;
}

const isWord = (tok: Token | undefined, ...words: string[]): boolean => tok?.t === 'word' && words.includes(tok.v);
const isPunct = (tok: Token | undefined, v: string): boolean => tok?.t === 'punct' && tok.v === v;
const identValue = (tok: Token | undefined): string | undefined => (tok?.t === 'word' || tok?.t === 'ident' ? tok.v : undefined);

/** The statement as written, on one line and cut short, for the plan. */
function excerpt(tokens: Token[], max = 120): string {
  const first = tokens[0];
  const last = tokens[tokens.length - 1];
  if (!first || !last) return '';
  const text = first.source!.slice(first.at, last.at! + last.raw.length).replace(/\s+/g, ' ').trim();
  return text.length > max ? `${text.slice(0, max - 3)}...` : text;
}

/** Reads a possibly qualified name at `k` (db.schema.name keeps the last two parts); returns it and the index after it. */
function readName(tokens: Token[], k: number): [SqlName, number] | undefined {
  const parts: string[] = [];
  let at = k;
  for (;;) {
    const v = identValue(tokens[at]);
    if (v === undefined) return undefined;
    parts.push(v);
    at++;
    if (!isPunct(tokens[at], '.')) break;
    at++;
  }
  const name = parts[parts.length - 1]!;
  const schema = parts.length > 1 ? parts[parts.length - 2] : undefined;
  return [schema === undefined ? { name } : { schema, name }, at];
}

/** Splits a token list at top-level commas (outside parentheses). */
function splitCommas(tokens: Token[]): Token[][] {
  const out: Token[][] = [[]];
  let depth = 0;
  for (const tok of tokens) {
    if (isPunct(tok, '(')) depth++;
    if (isPunct(tok, ')')) depth--;
    if (depth === 0 && isPunct(tok, ',')) out.push([]);
    else out[out.length - 1]!.push(tok);
  }
  return out.filter((part) => part.length > 0);
}

/** Commands that never remove stored rows or columns whatever their arguments (DROP INDEX, CREATE ..., GRANT, ...). */
const HARMLESS_COMMANDS = new Set([
  'create', 'comment', 'grant', 'revoke', 'set', 'reset', 'begin', 'commit', 'end', 'start', 'savepoint', 'release', 'rollback', 'abort',
  'lock', 'analyze', 'analyse', 'vacuum', 'reindex', 'cluster', 'refresh', 'notify', 'listen', 'unlisten', 'discard', 'show', 'checkpoint',
  'values', 'security', 'insert',
]);
/** DROP of these object kinds removes no stored rows (indexes, views, functions, sequences, ...), unless noted by the callers. */
const HARMLESS_DROPS = new Set([
  'index', 'view', 'materialized', 'function', 'procedure', 'routine', 'trigger', 'sequence', 'constraint', 'policy', 'rule', 'aggregate',
  'operator', 'cast', 'collation', 'conversion', 'statistics', 'publication', 'subscription', 'event', 'text', 'access', 'language',
  'transform', 'foreign', 'server', 'user', 'role', 'group', 'tablespace', 'database', 'owned', 'type', 'domain', 'extension',
]);
/** Functions a SELECT may call without writing rows (SELECT 1, setval, count, ...). */
const READ_ONLY_FUNCTIONS = new Set([
  'count', 'sum', 'min', 'max', 'avg', 'coalesce', 'nullif', 'greatest', 'least', 'now', 'cast', 'exists', 'in', 'any', 'all', 'array', 'row',
  'setval', 'nextval', 'currval', 'lastval', 'to_regclass', 'current_setting', 'set_config', 'format', 'lower', 'upper', 'length', 'concat',
  'substring', 'trim', 'replace', 'pg_advisory_lock', 'pg_advisory_unlock', 'pg_advisory_xact_lock', 'pg_try_advisory_lock',
  'current_database', 'current_schema', 'version', 'not', 'and', 'or', 'filter', 'over', 'values', 'from', 'where', 'select', 'as',
  'pg_sleep', 'pg_notify', 'join', 'on', 'using', 'lateral', 'case', 'when', 'then', 'else', 'interval', 'numeric', 'decimal', 'varchar',
  'char', 'timestamp', 'extract', 'position', 'overlay', 'to_char', 'pg_column_size', 'pg_total_relation_size', 'format_type',
]);

/**
 * Every destructive or unreadable statement of one SQL script, in order. An empty result means
 * every statement was read and none removes stored data.
 */
export function analyseSql(sql: string): SqlFinding[] {
  return statements(tokenize(sql)).flatMap(analyseStatement);
}

function analyseStatement(st: Token[]): SqlFinding[] {
  const statement = excerpt(st);
  const head = st[0];
  if (head?.t !== 'word') return [{ kind: 'unknown', reason: 'a statement the analyser cannot read', statement }];
  const unknown = (reason: string, table?: SqlName): SqlFinding[] => [{ kind: 'unknown', reason, ...(table ? { table } : {}), statement }];
  switch (head.v) {
    case 'drop':
      return analyseDrop(st, statement, unknown);
    case 'alter':
      if (isWord(st[1], 'table')) return analyseAlterTable(st, statement);
      if (isWord(st[1], 'type') && st.some((t, k) => isWord(t, 'drop') && isWord(st[k + 1], 'attribute'))) {
        return unknown('ALTER TYPE ... DROP ATTRIBUTE removes that attribute from every column of the type');
      }
      return [];
    case 'truncate':
      return analyseTruncate(st, statement);
    case 'delete':
      return analyseDelete(st, statement, unknown);
    case 'update': {
      const k = isWord(st[1], 'only') ? 2 : 1;
      return unknown('UPDATE overwrites values; the analyser does not count which', readName(st, k)?.[0]);
    }
    case 'select':
      return analyseSelect(st, unknown);
    case 'explain':
      return st.some((t) => isWord(t, 'analyze', 'analyse')) ? unknown('EXPLAIN ANALYZE runs the statement') : [];
    case 'insert':
      // ON CONFLICT ... DO UPDATE overwrites rows that exist.
      return st.some((t, k) => isWord(t, 'do') && isWord(st[k + 1], 'update')) ? unknown('INSERT ... ON CONFLICT DO UPDATE overwrites values') : [];
    case 'do':
      return unknown('a DO block runs code the analyser does not read');
    case 'execute':
    case 'call':
    case 'copy':
    case 'merge':
    case 'with':
    case 'import':
    case 'load':
    case 'prepare':
      return unknown(`${head.raw.toUpperCase()} may change data in ways the analyser cannot see`);
    default:
      return HARMLESS_COMMANDS.has(head.v) ? [] : unknown(`${head.raw.toUpperCase()} is a command the analyser does not know`);
  }
}

function analyseDrop(st: Token[], statement: string, unknown: (reason: string) => SqlFinding[]): SqlFinding[] {
  const what = st[1];
  const cascade = st.some((t) => isWord(t, 'cascade'));
  if (isWord(what, 'table')) {
    let k = 2;
    if (isWord(st[k], 'if') && isWord(st[k + 1], 'exists')) k += 2;
    const names = splitCommas(st.slice(k).filter((t) => !isWord(t, 'cascade', 'restrict')));
    return names.flatMap((part) => {
      const name = readName(part, 0);
      return name ? [{ kind: 'drop-table', table: name[0], statement } as const] : [];
    });
  }
  if (isWord(what, 'schema')) {
    // Without CASCADE, DROP SCHEMA fails on a schema that holds anything.
    if (!cascade) return [];
    let k = 2;
    if (isWord(st[k], 'if') && isWord(st[k + 1], 'exists')) k += 2;
    return splitCommas(st.slice(k).filter((t) => !isWord(t, 'cascade', 'restrict'))).flatMap((part) => {
      const v = identValue(part[0]);
      return v === undefined ? [] : [{ kind: 'drop-schema', schema: v, statement } as const];
    });
  }
  if (isWord(what, 'type', 'domain', 'extension') && cascade) {
    return unknown(`DROP ${what!.raw.toUpperCase()} ... CASCADE drops every column of the types it removes`);
  }
  if (isWord(what, 'owned')) return unknown('DROP OWNED drops every table the role owns');
  if (what?.t === 'word' && HARMLESS_DROPS.has(what.v)) return [];
  return unknown(`DROP ${what?.raw.toUpperCase() ?? ''} is an object kind the analyser does not know`);
}

function analyseAlterTable(st: Token[], statement: string): SqlFinding[] {
  let k = 2;
  if (isWord(st[k], 'if') && isWord(st[k + 1], 'exists')) k += 2;
  if (isWord(st[k], 'only')) k++;
  if (isWord(st[k], 'all')) return []; // ALTER TABLE ALL IN TABLESPACE ... SET TABLESPACE
  const name = readName(st, k);
  if (!name) return [{ kind: 'unknown', reason: 'an ALTER TABLE the analyser cannot read', statement }];
  const [table, after] = name;
  const rest = isPunct(st[after], '*') ? st.slice(after + 1) : st.slice(after);
  const findings: SqlFinding[] = [];
  for (const action of splitCommas(rest)) {
    if (isWord(action[0], 'drop')) {
      if (isWord(action[1], 'constraint')) continue;
      let j = isWord(action[1], 'column') ? 2 : 1;
      if (isWord(action[j], 'if') && isWord(action[j + 1], 'exists')) j += 2;
      const column = identValue(action[j]);
      if (column !== undefined) findings.push({ kind: 'drop-column', table, column, statement });
    } else if (isWord(action[0], 'alter')) {
      const j = isWord(action[1], 'column') ? 2 : 1;
      const column = identValue(action[j]);
      let m = j + 1;
      if (isWord(action[m], 'set') && isWord(action[m + 1], 'data')) m += 2;
      if (column !== undefined && isWord(action[m], 'type')) {
        const end = action.findIndex((t, x) => x > m && isWord(t, 'using', 'collate'));
        const toType = excerpt(action.slice(m + 1, end < 0 ? undefined : end), 60);
        findings.push({ kind: 'type-change', table, column, toType, statement });
      }
    }
  }
  return findings;
}

function analyseTruncate(st: Token[], statement: string): SqlFinding[] {
  let k = 1;
  if (isWord(st[k], 'table')) k++;
  const options = ['restart', 'continue', 'identity', 'cascade', 'restrict'];
  const names = splitCommas(st.slice(k).filter((t) => !isWord(t, ...options) && !isPunct(t, '*')));
  const findings: SqlFinding[] = names.flatMap((part) => {
    const name = readName(part, isWord(part[0], 'only') ? 1 : 0);
    return name ? [{ kind: 'truncate', table: name[0], statement } as const] : [];
  });
  if (st.some((t) => isWord(t, 'cascade'))) {
    findings.push({ kind: 'unknown', reason: 'TRUNCATE ... CASCADE also empties every table with a foreign key to these', statement });
  }
  return findings;
}

function analyseDelete(st: Token[], statement: string, unknown: (reason: string) => SqlFinding[]): SqlFinding[] {
  if (!isWord(st[1], 'from')) return unknown('a DELETE the analyser cannot read');
  const name = readName(st, isWord(st[2], 'only') ? 3 : 2);
  if (!name) return unknown('a DELETE the analyser cannot read');
  return [{ kind: 'delete', table: name[0], where: st.some((t) => isWord(t, 'where')), statement }];
}

function analyseSelect(st: Token[], unknown: (reason: string) => SqlFinding[]): SqlFinding[] {
  // SELECT f(...) can run anything f does; the functions in READ_ONLY_FUNCTIONS write no rows.
  const calls = st.flatMap((t, k) => ((t.t === 'word' || t.t === 'ident') && isPunct(st[k + 1], '(') && !READ_ONLY_FUNCTIONS.has(t.v) ? [t.raw] : []));
  return calls.length > 0 ? unknown(`SELECT calls ${[...new Set(calls)].join(', ')}, which may write`) : [];
}
