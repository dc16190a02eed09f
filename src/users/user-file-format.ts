import readline from 'node:readline';
import type { Readable } from 'node:stream';
import { IMPORT_FIELDS } from './user-import';
import type { UserWithHash } from './user-store';

/**
 * The user file format of `authd users import` and `export`, as JSON Lines (one object a line)
 * or CSV (RFC 4180, a header row naming the columns). In CSV, roles and scopes are
 * space-separated, metadata is a JSON object, booleans are true/false and an empty cell means
 * "not given".
 */
export type UserFileFormat = 'jsonl' | 'csv';
export const USER_FILE_FORMATS: readonly UserFileFormat[] = ['jsonl', 'csv'];

/** One record of the file, or why it could not be read; `line` is where it starts. */
export type FileRecord = { line: number; record: Record<string, unknown> } | { line: number; error: string };

/** Longer records are refused (a user record is a few hundred bytes; this bounds memory). */
const MAX_RECORD_CHARS = 64 * 1024;

export function formatFromFileName(name: string): UserFileFormat | undefined {
  if (/\.csv$/i.test(name)) return 'csv';
  if (/\.(jsonl|ndjson|json)$/i.test(name)) return 'jsonl';
  return undefined;
}

function parseJsonLine(text: string): Record<string, unknown> {
  const value: unknown = JSON.parse(text);
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error('not a JSON object');
  return value as Record<string, unknown>;
}

/** Splits CSV lines into records; a quoted field may span lines. */
function createCsvSplitter() {
  let fields: string[] = [];
  let field = '';
  let quoted = false;
  let length = 0;
  return {
    /** The record's fields once the line completes it; undefined while a quoted field is open. */
    push(line: string): string[] | undefined {
      length += line.length;
      for (let i = 0; i < line.length; i++) {
        const ch = line[i];
        if (quoted) {
          if (ch !== '"') field += ch;
          else if (line[i + 1] === '"') {
            field += '"';
            i++;
          } else quoted = false;
        } else if (ch === '"' && field === '') quoted = true;
        else if (ch === ',') {
          fields.push(field);
          field = '';
        } else field += ch;
      }
      if (quoted && length <= MAX_RECORD_CHARS) {
        field += '\n';
        return undefined;
      }
      fields.push(field);
      const record = fields;
      const unterminated = quoted;
      fields = [];
      field = '';
      quoted = false;
      length = 0;
      if (unterminated) throw new Error(`a quoted field is not closed within ${MAX_RECORD_CHARS} characters`);
      return record;
    },
    get open() {
      return quoted;
    },
  };
}

const BOOLEAN_COLUMNS = new Set(['email_verified', 'disabled']);
const LIST_COLUMNS = new Set(['roles', 'scopes']);

function csvCell(column: string, cell: string): unknown {
  if (BOOLEAN_COLUMNS.has(column)) {
    if (cell === 'true' || cell === 'false') return cell === 'true';
    throw new Error(`${column} must be true or false`);
  }
  if (LIST_COLUMNS.has(column)) return cell.split(/\s+/).filter(Boolean);
  if (column === 'metadata') {
    try {
      return JSON.parse(cell);
    } catch {
      throw new Error('metadata must be a JSON object');
    }
  }
  return cell;
}

/** Reads records one at a time: memory stays bounded by one record, whatever the file's size. */
export async function* readUserFile(input: Readable, format: UserFileFormat): AsyncGenerator<FileRecord> {
  const lines = readline.createInterface({ input, crlfDelay: Infinity });
  // readline does not pass on its input's errors: a read error would end the file early, silently.
  let readError: Error | undefined;
  input.once('error', (error) => {
    readError = error;
    lines.close();
  });
  try {
    yield* readRecords(lines, format);
  } finally {
    lines.close();
  }
  if (readError) throw readError;
}

async function* readRecords(lines: readline.Interface, format: UserFileFormat): AsyncGenerator<FileRecord> {
  let lineNumber = 0;
  if (format === 'jsonl') {
    for await (const text of lines) {
      lineNumber++;
      if (text.trim() === '') continue;
      if (text.length > MAX_RECORD_CHARS) {
        yield { line: lineNumber, error: `the line is longer than ${MAX_RECORD_CHARS} characters.` };
        continue;
      }
      try {
        yield { line: lineNumber, record: parseJsonLine(text) };
      } catch (error) {
        yield { line: lineNumber, error: `not valid JSON: ${(error as Error).message}.` };
      }
    }
    return;
  }
  const splitter = createCsvSplitter();
  let header: string[] | undefined;
  let start = 1;
  for await (const text of lines) {
    lineNumber++;
    if (!splitter.open) start = lineNumber;
    let cells: string[] | undefined;
    try {
      cells = splitter.push(text);
    } catch (error) {
      yield { line: start, error: `${(error as Error).message}.` };
      continue;
    }
    if (cells === undefined) continue;
    if (!header) {
      header = cells.map((c) => c.trim().replace(/^\uFEFF/, ''));
      const unknown = header.find((c) => !(IMPORT_FIELDS as readonly string[]).includes(c));
      if (unknown !== undefined || !header.includes('username') || new Set(header).size !== header.length) {
        throw new Error(
          `line 1: the CSV header must name distinct columns among ${IMPORT_FIELDS.join(', ')}, username included${unknown !== undefined ? ` (unknown: "${unknown.slice(0, 64)}")` : ''}`,
        );
      }
      continue;
    }
    if (cells.length === 1 && cells[0] === '') continue; // a blank line
    if (cells.length !== header.length) {
      yield { line: start, error: `${cells.length} cells, but the header names ${header.length} columns.` };
      continue;
    }
    try {
      const record: Record<string, unknown> = {};
      header.forEach((column, i) => {
        if (cells[i] !== '') record[column] = csvCell(column, cells[i]);
      });
      yield { line: start, record };
    } catch (error) {
      yield { line: start, error: `${(error as Error).message}.` };
    }
  }
  if (splitter.open) yield { line: start, error: 'the file ends inside a quoted field.' };
}

/** The record written for a user; the hash only when asked for. */
export function exportRecord(user: UserWithHash, includeHash: boolean): Record<string, unknown> {
  return {
    id: user.id,
    username: user.username,
    email: user.email,
    email_verified: user.emailVerified,
    ...(includeHash && { password_hash: user.passwordHash }),
    roles: user.roles,
    scopes: user.scopes,
    metadata: user.metadata,
    disabled: user.disabledAt !== null,
  };
}

function csvQuote(cell: string): string {
  return /[",\r\n]|^\s|\s$/.test(cell) ? `"${cell.replace(/"/g, '""')}"` : cell;
}

export function csvHeader(includeHash: boolean): string {
  return `${IMPORT_FIELDS.filter((f) => includeHash || f !== 'password_hash').join(',')}\n`;
}

/** One line (JSON Lines) or row (CSV) of an export, newline included. */
export function formatRecord(record: Record<string, unknown>, format: UserFileFormat): string {
  if (format === 'jsonl') return `${JSON.stringify(record)}\n`;
  const cells = IMPORT_FIELDS.filter((f) => f in record).map((f) => {
    const value = record[f];
    if (value === null || value === undefined) return '';
    if (LIST_COLUMNS.has(f)) return csvQuote((value as string[]).join(' '));
    if (f === 'metadata') return csvQuote(JSON.stringify(value));
    return csvQuote(String(value));
  });
  return `${cells.join(',')}\n`;
}
