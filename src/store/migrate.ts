import fs from 'node:fs/promises';
import path from 'node:path';
import { PROJECT_ROOT } from '../project-root';
import type { Database, Queryable } from './database';

export const MIGRATIONS_DIR = path.join(PROJECT_ROOT, 'migrations');
// Any fixed number shared by every instance; "authd" in ASCII. src/store/startup-lock.ts uses the next one.
export const MIGRATION_LOCK = 0x61757468;

export interface Migration {
  version: string;
  sql: string;
}

export async function readMigrations(dir = MIGRATIONS_DIR): Promise<Migration[]> {
  const files = (await fs.readdir(dir)).filter((f) => /^\d+_[\w-]+\.sql$/.test(f)).sort();
  return Promise.all(
    files.map(async (file) => ({
      version: file.replace(/\.sql$/, ''),
      sql: await fs.readFile(path.join(dir, file), 'utf8'),
    })),
  );
}

/**
 * Applies every migration not yet recorded, in order, each in its own transaction. Each of those
 * transactions first takes a transaction-level advisory lock and re-checks the record, so two
 * instances starting at once take turns and the second finds the work done. Transaction-level
 * (not session-level) so that migrations also run through a transaction pooler like PgBouncer.
 */
export async function migrate(db: Database, migrations?: Migration[]): Promise<string[]> {
  const all = migrations ?? (await readMigrations());
  await db.transaction(async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
    await tx.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`);
  });
  const recorded = async (tx: Queryable) =>
    new Set((await tx.query<{ version: string }>('SELECT version FROM schema_migrations')).map((r) => r.version));
  const before = await recorded(db);
  const pending = all.filter((m) => !before.has(m.version));
  const done: string[] = [];
  for (const migration of pending) {
    const applied = await db
      .transaction(async (tx) => {
        await tx.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
        if ((await recorded(tx)).has(migration.version)) return false;
        await tx.exec(migration.sql);
        await tx.query('INSERT INTO schema_migrations (version) VALUES ($1)', [migration.version]);
        return true;
      })
      .catch((error: unknown) => {
        throw new Error(`migration ${migration.version} failed: ${(error as Error).message}`, { cause: error });
      });
    if (applied) done.push(migration.version);
  }
  return done;
}
