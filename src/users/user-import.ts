import crypto from 'node:crypto';
import type { Clock } from '../clock';
import { DomainError } from '../errors';
import type { Queryable } from '../store/database';
import { normalizeEmail } from './email';
import { checkImportedHash } from './legacy-hashes';
import { checkMetadata, type UserMetadata } from './user-metadata';
import { checkNames } from './user-service';
import { displayUsername, normalizeUsername, usernameSkeleton } from './username';

/** What to do with a row whose username already exists. */
export type ConflictPolicy = 'skip' | 'update';
export const CONFLICT_POLICIES: readonly ConflictPolicy[] = ['skip', 'update'];

/** The fields of one import (and export) record; everything but username is optional. */
export const IMPORT_FIELDS = [
  'id',
  'username',
  'email',
  'email_verified',
  'password_hash',
  'roles',
  'scopes',
  'metadata',
  'disabled',
] as const;

/** A validated record. An absent field keeps the stored value when a row updates a user. */
export interface ImportRow {
  /** Where the record starts in the file (or its position in an API batch), for error messages. */
  line: number;
  id?: string;
  username: string;
  usernameNormalized: string;
  email?: { email: string; normalized: string } | null;
  emailVerified?: boolean;
  passwordHash?: string;
  roles?: string[];
  scopes?: string[];
  metadata?: UserMetadata;
  disabled?: boolean;
}

export interface RowFailure {
  line: number;
  error: string;
}

export interface ImportCounts {
  created: number;
  updated: number;
  skipped: number;
  failed: RowFailure[];
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function field<T>(record: Record<string, unknown>, name: string, check: (value: unknown) => T): T | undefined {
  const value = record[name];
  return value === undefined ? undefined : check(value);
}

const asString = (name: string) => (value: unknown) => {
  if (typeof value !== 'string') throw new DomainError('invalid', `${name} must be a string.`);
  return value;
};
const asBoolean = (name: string) => (value: unknown) => {
  if (typeof value !== 'boolean') throw new DomainError('invalid', `${name} must be true or false.`);
  return value;
};
const asNames = (name: 'role' | 'scope') => (value: unknown) => {
  if (!Array.isArray(value) || value.length > 50 || value.some((v) => typeof v !== 'string'))
    throw new DomainError('invalid', `${name}s must be a list of at most 50 names.`);
  return checkNames(value as string[], name);
};

/** Checks one record (a parsed JSON object or CSV row); throws a DomainError naming the problem. */
export function validateImportRecord(record: Record<string, unknown>, line: number): ImportRow {
  const unknown = Object.keys(record).find((key) => !(IMPORT_FIELDS as readonly string[]).includes(key));
  if (unknown !== undefined)
    throw new DomainError('invalid', `unknown field "${unknown.slice(0, 64)}" (fields: ${IMPORT_FIELDS.join(', ')}).`);
  const username = field(record, 'username', asString('username'));
  if (username === undefined) throw new DomainError('invalid', 'username is required.');
  const id = field(record, 'id', asString('id'));
  if (id !== undefined && !UUID.test(id)) throw new DomainError('invalid', 'id must be a UUID.');
  const email =
    record.email === null ? null : field(record, 'email', (value) => normalizeEmail(asString('email')(value)));
  let passwordHash: string | undefined;
  const hash = field(record, 'password_hash', asString('password_hash'));
  if (hash !== undefined) {
    const check = checkImportedHash(hash);
    if (!check.ok) throw new DomainError('invalid', `password_hash: ${check.problem}.`);
    passwordHash = check.stored;
  }
  return {
    line,
    ...(id !== undefined && { id: id.toLowerCase() }),
    username: displayUsername(username),
    usernameNormalized: normalizeUsername(username),
    ...(email !== undefined && { email }),
    ...(record.email_verified !== undefined && { emailVerified: asBoolean('email_verified')(record.email_verified) }),
    ...(passwordHash !== undefined && { passwordHash }),
    ...(record.roles !== undefined && { roles: asNames('role')(record.roles) }),
    ...(record.scopes !== undefined && { scopes: asNames('scope')(record.scopes) }),
    ...(record.metadata !== undefined && { metadata: checkMetadata(record.metadata) }),
    ...(record.disabled !== undefined && { disabled: asBoolean('disabled')(record.disabled) }),
  };
}

/** The JSON the statements below read with jsonb_array_elements: present keys only, so `r ? 'x'` means "given". */
function toJson(row: ImportRow) {
  return {
    id: row.id ?? crypto.randomUUID(),
    username: row.username,
    username_normalized: row.usernameNormalized,
    username_skeleton: usernameSkeleton(row.usernameNormalized),
    ...(row.email !== undefined && {
      email: row.email?.email ?? null,
      email_normalized: row.email?.normalized ?? null,
    }),
    ...(row.emailVerified !== undefined && { email_verified: row.emailVerified }),
    ...(row.passwordHash !== undefined && { password_hash: row.passwordHash }),
    ...(row.roles !== undefined && { roles: row.roles }),
    ...(row.scopes !== undefined && { scopes: row.scopes }),
    ...(row.metadata !== undefined && { metadata: row.metadata }),
    ...(row.disabled !== undefined && { disabled: row.disabled }),
  };
}

const TEXT_ARRAY = (key: string, otherwise: string) =>
  `CASE WHEN r ? '${key}' THEN ARRAY(SELECT jsonb_array_elements_text(r->'${key}')) ELSE ${otherwise} END`;

// Existing users, matched by normalised username. A new email is unverified unless the row says otherwise.
const UPDATE_SQL = `
  WITH input AS (SELECT value AS r FROM jsonb_array_elements($1::jsonb)),
  old AS (
    SELECT u.id, u.password_hash, u.disabled_at, input.r FROM users u JOIN input ON u.username_normalized = input.r->>'username_normalized' FOR UPDATE OF u
  )
  UPDATE users u SET
    username = r->>'username',
    email = CASE WHEN r ? 'email' THEN r->>'email' ELSE u.email END,
    email_normalized = CASE WHEN r ? 'email' THEN r->>'email_normalized' ELSE u.email_normalized END,
    email_verified = CASE WHEN r ? 'email_verified' THEN (r->>'email_verified')::boolean
                          WHEN r ? 'email' AND (r->>'email_normalized') IS DISTINCT FROM u.email_normalized THEN false
                          ELSE u.email_verified END,
    password_hash = COALESCE(r->>'password_hash', u.password_hash),
    roles = ${TEXT_ARRAY('roles', 'u.roles')},
    scopes = ${TEXT_ARRAY('scopes', 'u.scopes')},
    metadata = COALESCE(r->'metadata', u.metadata),
    disabled_at = CASE WHEN NOT r ? 'disabled' THEN u.disabled_at WHEN (r->>'disabled')::boolean THEN COALESCE(u.disabled_at, $2) ELSE NULL END,
    updated_at = $2
  FROM old WHERE u.id = old.id
  RETURNING u.id, u.username_normalized,
    (u.password_hash IS DISTINCT FROM old.password_hash OR (u.disabled_at IS NOT NULL AND old.disabled_at IS NULL)) AS credentials_changed`;

const INSERT_SQL = `
  INSERT INTO users (id, username, username_normalized, username_skeleton, email, email_normalized, email_verified, password_hash, roles, scopes, metadata, disabled_at, created_at, updated_at)
  SELECT (r->>'id')::uuid, r->>'username', r->>'username_normalized', r->>'username_skeleton', r->>'email', r->>'email_normalized',
         COALESCE((r->>'email_verified')::boolean, false), r->>'password_hash',
         ${TEXT_ARRAY('roles', "'{}'")}, ${TEXT_ARRAY('scopes', "'{}'")}, COALESCE(r->'metadata', '{}'),
         CASE WHEN (r->>'disabled')::boolean THEN $2::timestamptz END, $2, $2
  FROM jsonb_array_elements($1::jsonb) AS r
  ON CONFLICT (username_normalized) DO NOTHING
  RETURNING username_normalized`;

interface DatabaseError {
  code?: string;
  constraint?: string;
  message: string;
}

/** Errors one bad row causes in a multi-row statement; the batch is then retried row by row. */
function isRowError(error: unknown): error is DatabaseError {
  const code = (error as DatabaseError).code;
  return code === '23505' || code === '21000';
}

function describeRowError(error: DatabaseError): string {
  const where = `${error.constraint ?? ''} ${error.message}`;
  if (where.includes('users_email_normalized')) return 'email already belongs to another user.';
  if (where.includes('users_pkey')) return 'id already belongs to another user.';
  if (where.includes('users_username_skeleton')) return 'username looks like an existing one (confusable characters).';
  return 'conflicts with another user.';
}

export interface UserImporterDeps {
  db: Queryable;
  clock: Clock;
  /** Called for updated users whose hash changed or who were disabled: ends their sessions. */
  onCredentialsChanged?: (userId: string, reason: string) => Promise<void>;
}

/**
 * Writes validated rows in batches: one UPDATE (policy "update") and one INSERT per batch, so a
 * large file costs two statements per few hundred users. A row that breaks a unique constraint
 * (an email or id of another user) fails alone: the batch is retried row by row.
 */
export function createUserImporter({ db, clock, onCredentialsChanged }: UserImporterDeps) {
  async function write(rows: ImportRow[], policy: ConflictPolicy): Promise<ImportCounts> {
    const counts: ImportCounts = { created: 0, updated: 0, skipped: 0, failed: [] };
    const now = new Date(clock.now());
    const updated = new Set<string>();
    if (policy === 'update') {
      const result = await db.query<{ id: string; username_normalized: string; credentials_changed: boolean }>(
        UPDATE_SQL,
        [JSON.stringify(rows.map(toJson)), now],
      );
      for (const row of result) {
        updated.add(row.username_normalized);
        if (row.credentials_changed) await onCredentialsChanged?.(row.id, 'user_imported');
      }
      counts.updated = updated.size;
    }
    const toInsert: ImportRow[] = [];
    for (const row of rows) {
      if (updated.has(row.usernameNormalized)) continue;
      if (row.passwordHash === undefined)
        counts.failed.push({ line: row.line, error: 'password_hash is required to create a user.' });
      else toInsert.push(row);
    }
    if (toInsert.length) {
      const inserted = await db.query(INSERT_SQL, [JSON.stringify(toInsert.map(toJson)), now]);
      counts.created = inserted.length;
      counts.skipped = toInsert.length - inserted.length;
    }
    return counts;
  }

  return {
    /** Imports one batch; rows repeating a username of the same batch fail (the first one wins). */
    async importBatch(rows: ImportRow[], policy: ConflictPolicy): Promise<ImportCounts> {
      const firstLine = new Map<string, number>();
      const unique: ImportRow[] = [];
      const failed: RowFailure[] = [];
      for (const row of rows) {
        const seen = firstLine.get(row.usernameNormalized);
        if (seen !== undefined) failed.push({ line: row.line, error: `username repeats line ${seen}.` });
        else {
          firstLine.set(row.usernameNormalized, row.line);
          unique.push(row);
        }
      }
      let counts: ImportCounts;
      try {
        counts = await write(unique, policy);
      } catch (error) {
        if (!isRowError(error)) throw error;
        counts = { created: 0, updated: 0, skipped: 0, failed: [] };
        for (const row of unique) {
          try {
            const one = await write([row], policy);
            counts.created += one.created;
            counts.updated += one.updated;
            counts.skipped += one.skipped;
            counts.failed.push(...one.failed);
          } catch (rowError) {
            if (!isRowError(rowError)) throw rowError;
            counts.failed.push({ line: row.line, error: describeRowError(rowError) });
          }
        }
      }
      counts.failed = [...failed, ...counts.failed].sort((a, b) => a.line - b.line);
      return counts;
    },
  };
}

export type UserImporter = ReturnType<typeof createUserImporter>;

type ImportItem = { line: number; record: Record<string, unknown> } | { line: number; error: string };

export interface ImportTotals {
  records: number;
  created: number;
  updated: number;
  skipped: number;
  failed: number;
}

export interface ImportOptions {
  policy: ConflictPolicy;
  batchSize?: number;
  /** Each refused row as soon as it is known (the file may have many; none is kept). */
  onFailure?: (failure: RowFailure) => void;
  /** After every batch. */
  onProgress?: (totals: ImportTotals) => void;
}

/**
 * Streams records into the database a batch at a time: the next batch is read only once the
 * previous one is written, so memory holds one batch whatever the file's size.
 */
export async function importRecords(
  records: AsyncIterable<ImportItem> | Iterable<ImportItem>,
  importer: UserImporter,
  { policy, batchSize = 500, onFailure, onProgress }: ImportOptions,
): Promise<ImportTotals> {
  const totals: ImportTotals = { records: 0, created: 0, updated: 0, skipped: 0, failed: 0 };
  const fail = (failure: RowFailure) => {
    totals.failed++;
    onFailure?.(failure);
  };
  let batch: ImportRow[] = [];
  const flush = async () => {
    const counts = await importer.importBatch(batch, policy);
    batch = [];
    totals.created += counts.created;
    totals.updated += counts.updated;
    totals.skipped += counts.skipped;
    counts.failed.forEach(fail);
    onProgress?.({ ...totals });
  };
  for await (const item of records) {
    totals.records++;
    if ('error' in item) {
      fail({ line: item.line, error: item.error });
      continue;
    }
    try {
      batch.push(validateImportRecord(item.record, item.line));
    } catch (error) {
      if (!(error instanceof DomainError)) throw error;
      fail({ line: item.line, error: error.message });
      continue;
    }
    if (batch.length >= batchSize) await flush();
  }
  if (batch.length) await flush();
  return totals;
}
