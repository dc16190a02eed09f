import fs from 'node:fs';
import { PGlite, type Transaction } from '@electric-sql/pglite';
import type { Connection, Database } from './database';
import { lockDataDir } from './data-dir-lock';

/**
 * The embedded default: PGlite, real Postgres compiled to WebAssembly, persisted in a data
 * directory (or in memory when dataDir is undefined). One process owns it, and PGlite runs one
 * statement at a time, so transactions and advisory locks need no extra coordination.
 */
export async function createEmbeddedDatabase(dataDir: string | undefined): Promise<Database> {
  let unlock = () => {};
  if (dataDir) {
    fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    unlock = lockDataDir(dataDir);
  }
  let db: PGlite;
  try {
    db = await PGlite.create(dataDir ? { dataDir: `${dataDir}/pgdata` } : {});
  } catch (error) {
    unlock();
    throw error;
  }

  const asQueryable = (target: PGlite | Transaction): Connection => ({
    async query<Row>(text: string, params?: readonly unknown[]) {
      return (await target.query<Row>(text, params as unknown[])).rows;
    },
    async exec(sql: string) {
      await target.exec(sql);
    },
  });
  const direct = asQueryable(db);

  return {
    kind: 'embedded',
    query: direct.query,
    transaction<T>(fn: (tx: Connection) => Promise<T>) {
      return db.transaction((tx) => fn(asQueryable(tx)));
    },
    withAdvisoryLock<T>(_key: number, fn: (conn: Connection) => Promise<T>) {
      return fn(direct);
    },
    async ping() {
      await db.query('SELECT 1');
    },
    async close() {
      try {
        await db.close();
      } finally {
        unlock();
      }
    },
  };
}
