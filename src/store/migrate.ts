import fs from 'node:fs/promises';
import path from 'node:path';
import { PROJECT_ROOT } from '../project-root';
import type { Database } from './database';

export const MIGRATIONS_DIR = path.join(PROJECT_ROOT, 'migrations');
// Any fixed number shared by every instance; "authd" in ASCII.
const MIGRATION_LOCK = 0x61757468;

export interface Migration {
  version: string;
  sql: string;
}

export async function readMigrations(dir = MIGRATIONS_DIR): Promise<Migration[]> {
  const files = (await fs.readdir(dir)).filter((f) => /^\d+_[\w-]+\.sql$/.test(f)).sort();
  return Promise.all(files.map(async (file) => ({ version: file.replace(/\.sql$/, ''), sql: await fs.readFile(path.join(dir, file), 'utf8') })));
}

/**
 * Applies every migration not yet recorded, in order, each in its own transaction. The advisory
 * lock makes two instances starting at once take turns: the second finds the work done.
 */
export async function migrate(db: Database, migrations?: Migration[]): Promise<string[]> {
  const all = migrations ?? (await readMigrations());
  return db.withAdvisoryLock(MIGRATION_LOCK, async (conn) => {
    await conn.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`);
    const applied = new Set((await conn.query<{ version: string }>('SELECT version FROM schema_migrations')).map((r) => r.version));
    const done: string[] = [];
    for (const migration of all) {
      if (applied.has(migration.version)) continue;
      await conn.exec('BEGIN');
      try {
        await conn.exec(migration.sql);
        await conn.query('INSERT INTO schema_migrations (version) VALUES ($1)', [migration.version]);
        await conn.exec('COMMIT');
      } catch (error) {
        await conn.exec('ROLLBACK');
        throw new Error(`migration ${migration.version} failed: ${(error as Error).message}`, { cause: error });
      }
      done.push(migration.version);
    }
    return done;
  });
}

/** Runs fn under the same lock, for other one-at-a-time start-up work (the first signing key). */
export function withStartupLock<T>(db: Database, fn: () => Promise<T>): Promise<T> {
  return db.withAdvisoryLock(MIGRATION_LOCK + 1, fn);
}
