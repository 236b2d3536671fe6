/**
 * goose's SQL migration parser (pressly/goose v3 internal/sqlparser/parser.go ParseSQLMigration),
 * ported line for line: the same state machine, the same statement boundaries, the same errors.
 * No I/O. The native driver (goose-native.ts) runs the statements it returns one by one, as goose
 * does, so whatever goose would split differently (a `;` at the end of a line inside a function
 * body without StatementBegin/StatementEnd) is split here the same way.
 */

export type GooseDirection = 'up' | 'down';

/** goose's parser states (start 0 .. gooseStatementEndDown 6), kept with goose's numbers for its messages. */
const State = { Start: 0, Up: 1, StatementBeginUp: 2, StatementEndUp: 3, Down: 4, StatementBeginDown: 5, StatementEndDown: 6 } as const;
type State = (typeof State)[keyof typeof State];

const ANNOTATIONS = ['Up', 'Down', 'StatementBegin', 'StatementEnd', 'NO TRANSACTION', 'ENVSUB ON', 'ENVSUB OFF'] as const;
type Annotation = (typeof ANNOTATIONS)[number];

const SEE = 'see https://github.com/pressly/goose#sql-migrations';

/** A file goose itself refuses to parse; the message is goose's. */
export class GooseParseError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'GooseParseError';
  }
}

export interface ParsedGooseSql {
  /** The statements of the direction, trimmed, in order; each one goose ExecContext. */
  statements: string[];
  /** false when the file says `-- +goose NO TRANSACTION` (anywhere: it applies to both directions). */
  useTx: boolean;
  /**
   * Lines of this direction that goose passes through environment substitution (`-- +goose ENVSUB
   * ON`) and that hold a `$`: goose would replace `$VAR`/`${VAR}` there from ITS environment, which
   * the plugin cannot know.
   */
  substituted: string[];
}

/**
 * ParseSQLMigration(r, direction): the statements of one direction. Throws GooseParseError where
 * goose returns an error. Environment substitution is not performed (see `substituted`).
 */
export function parseGooseSql(text: string, direction: GooseDirection): ParsedGooseSql {
  let state: State = State.Start;
  let useTx = true;
  let useEnvsub = false;
  let buf = '';
  const statements: string[] = [];
  const substituted: string[] = [];

  for (const line of scanLines(text)) {
    if (state === State.Start && line.trim() === '') continue;

    if (line.trim().startsWith('--') && line.includes('+goose')) {
      const cmd = extractAnnotation(line);
      switch (cmd) {
        case 'Up':
          if (state !== State.Start) throw new GooseParseError(`duplicate '-- +goose Up' annotations; stateMachine=${state}, ${SEE}`);
          state = State.Up;
          continue;
        case 'Down':
          if (state !== State.Up && state !== State.StatementEndUp) throw new GooseParseError(`must start with '-- +goose Up' annotation, stateMachine=${state}, ${SEE}`);
          if (buf.trim() !== '') throw missingSemicolon(state, direction, buf.trim());
          state = State.Down;
          continue;
        case 'StatementBegin':
          if (state === State.Up || state === State.StatementEndUp) state = State.StatementBeginUp;
          else if (state === State.Down || state === State.StatementEndDown) state = State.StatementBeginDown;
          else throw new GooseParseError(`'-- +goose StatementBegin' must be defined after '-- +goose Up' or '-- +goose Down' annotation, stateMachine=${state}, ${SEE}`);
          continue;
        case 'StatementEnd':
          if (state === State.StatementBeginUp) state = State.StatementEndUp;
          else if (state === State.StatementBeginDown) state = State.StatementEndDown;
          else throw new GooseParseError(`'-- +goose StatementEnd' must be defined after '-- +goose StatementBegin', ${SEE}`);
          // No `continue`: goose lets the line fall through, so the statement is stored below.
          break;
        case 'NO TRANSACTION':
          useTx = false;
          continue;
        case 'ENVSUB ON':
          useEnvsub = true;
          continue;
        case 'ENVSUB OFF':
          useEnvsub = false;
          continue;
      }
    }
    // Comments and empty lines before a statement are ignored; inside one they are kept.
    if (buf.length === 0 && (line.trim().startsWith('--') || line === '')) continue;

    let holdsVariable = false;
    if (state !== State.StatementEndDown && state !== State.StatementEndUp) {
      holdsVariable = useEnvsub && line.includes('$');
      buf += `${line}\n`;
    }
    // Only the requested direction's lines stay in the buffer.
    if (state === State.Up || state === State.StatementBeginUp || state === State.StatementEndUp) {
      if (direction === 'down') {
        buf = '';
        continue;
      }
    } else if (state === State.Down || state === State.StatementBeginDown || state === State.StatementEndDown) {
      if (direction === 'up') {
        buf = '';
        continue;
      }
    } else {
      throw new GooseParseError(`failed to parse migration: unexpected state ${state} on line ${JSON.stringify(line)}, ${SEE}`);
    }
    if (holdsVariable) substituted.push(line);

    if ((state === State.Up || state === State.Down) && endsWithSemicolon(line)) {
      statements.push(buf.trim());
      buf = '';
    } else if (state === State.StatementEndUp || state === State.StatementEndDown) {
      statements.push(buf.trim());
      buf = '';
      state = state === State.StatementEndUp ? State.Up : State.Down;
    }
  }

  if (state === State.Start) throw new GooseParseError(`failed to parse migration: must start with '-- +goose Up' annotation, ${SEE}`);
  if (state === State.StatementBeginUp || state === State.StatementBeginDown) {
    throw new GooseParseError("failed to parse migration: missing '-- +goose StatementEnd' annotation");
  }
  if (buf.trim() !== '') throw missingSemicolon(state, direction, buf.trim());
  return { statements, useTx, substituted };
}

function missingSemicolon(state: State, direction: GooseDirection, rest: string): GooseParseError {
  return new GooseParseError(`failed to parse migration: state ${state}, direction: ${direction}: unexpected unfinished SQL query: ${JSON.stringify(rest)}: missing semicolon?`);
}

/**
 * extractAnnotation: "-- +goose X" with no leading whitespace; every "--" removed, the first
 * "+goose" removed, a second one refused; X matched case-insensitively.
 */
function extractAnnotation(line: string): Annotation {
  if (line.startsWith(' ') || line.startsWith('\t')) {
    throw new GooseParseError(`failed to parse annotation line ${JSON.stringify(line)}: ${JSON.stringify(line)} contains leading whitespace: invalid annotation`);
  }
  let cmd = line.replaceAll('--', '').replace('+goose', '');
  if (cmd.includes('+goose')) {
    throw new GooseParseError(`failed to parse annotation line ${JSON.stringify(line)}: ${JSON.stringify(cmd)} contains multiple '+goose' annotations: invalid annotation`);
  }
  cmd = cmd.trim();
  if (cmd === '') throw new GooseParseError(`failed to parse annotation line ${JSON.stringify(line)}: empty annotation`);
  const found = ANNOTATIONS.find((a) => a.toLowerCase() === cmd.toLowerCase());
  if (found === undefined) throw new GooseParseError(`failed to parse annotation line ${JSON.stringify(line)}: ${JSON.stringify(cmd)} not supported: invalid annotation`);
  return found;
}

/** endsWithSemicolon: the last whitespace-separated word before a word starting with "--" ends with ";". */
export function endsWithSemicolon(line: string): boolean {
  let prev = '';
  for (const word of line.split(/\s+/)) {
    if (word === '') continue;
    if (word.startsWith('--')) break;
    prev = word;
  }
  return prev.endsWith(';');
}

/** bufio.ScanLines: split at "\n", one trailing "\r" dropped per line, no empty line after a final "\n". */
function scanLines(text: string): string[] {
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  return lines.map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
}
