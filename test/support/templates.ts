import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { PGlite, type PGliteOptions } from '@electric-sql/pglite';
import { Client } from 'pg';
import type { Database } from '../../src/store/database';
import { createEmbeddedDatabase } from '../../src/store/embedded';
import { migrate, readMigrations } from '../../src/store/migrate';
import { createPostgresDatabase } from '../../src/store/postgres';
const { TEMPLATE, migratedTemplatePath, writeAtomically } = require('./pglite-template') as {
  TEMPLATE: string;
  migratedTemplatePath(digest: string): string;
  writeAtomically(file: string, bytes: Buffer): void;
};

/**
 * Fresh databases for tests without paying for initdb and every migration each time: the embedded
 * backend starts PGlite from a tarball (test/support/pglite-template.js), PostgreSQL clones a
 * migrated template database (CREATE DATABASE … TEMPLATE). Both templates are named after a
 * digest of migrations/, so a changed or new migration makes new ones, and worktrees with
 * different migrations never share one. What they skip is tested on its own: migrations on an
 * empty database (test/store/migrate.test.ts, the CLI suites), initdb (every process test that
 * starts on a new data directory, the README walkthrough).
 */

let digest: Promise<string> | undefined;

/** A digest of every migration's name and text. */
export function migrationsDigest(): Promise<string> {
  digest ??= readMigrations().then((all) =>
    crypto.createHash('sha256').update(JSON.stringify(all)).digest('hex').slice(0, 16),
  );
  return digest;
}

/**
 * A Blob over bytes already in memory. PGlite reads loadDataDir with arrayBuffer(), which for a
 * Blob made from a Buffer streams the whole tarball through Node's blob reader (0.3 s of CPU a start).
 */
class BytesBlob extends Blob {
  constructor(private readonly contents: Buffer) {
    super([]);
  }
  override arrayBuffer(): Promise<ArrayBuffer> {
    return Promise.resolve(new Uint8Array(this.contents).buffer); // a copy: PGlite may keep what it gets
  }
}

/**
 * createEmbeddedDatabase(undefined), the embedded default's own code path, with PGlite started
 * from `tarball` instead of running initdb. createEmbeddedDatabase calls PGlite.create before its
 * first await, so only this call sees the tarball; were that to change, the database would merely
 * be made the slow way (and empty, which openServices' migrate() then fills).
 */
async function openEmbedded(tarball: Buffer | undefined): Promise<{ db: Database; pglite: PGlite | undefined }> {
  if (!tarball) return { db: await createEmbeddedDatabase(undefined), pglite: undefined };
  const original = PGlite.create;
  const create = original.bind(PGlite) as (options?: PGliteOptions) => Promise<PGlite>;
  let pglite: PGlite | undefined;
  PGlite.create = (async (options?: PGliteOptions) => {
    pglite = await create({ ...options, loadDataDir: new BytesBlob(tarball) });
    return pglite;
  }) as typeof PGlite.create;
  let opening: Promise<Database>;
  try {
    opening = createEmbeddedDatabase(undefined);
  } finally {
    PGlite.create = original;
  }
  const db = await opening;
  return { db, pglite };
}

let emptyTarball: Buffer | undefined;
let migratedTarball: Promise<Buffer | undefined> | undefined;

function readEmptyTarball(): Buffer | undefined {
  if (!emptyTarball && fs.existsSync(TEMPLATE)) emptyTarball = fs.readFileSync(TEMPLATE);
  return emptyTarball;
}

/** The empty template after every migration: read, or made once (by whichever worker comes first). */
function readMigratedTarball(): Promise<Buffer | undefined> {
  migratedTarball ??= (async () => {
    const empty = readEmptyTarball();
    if (!empty) return undefined;
    const file = migratedTemplatePath(await migrationsDigest());
    if (fs.existsSync(file)) return fs.readFileSync(file);
    const { db, pglite } = await openEmbedded(empty);
    try {
      await migrate(db);
      if (!pglite) return undefined;
      const bytes = Buffer.from(await (await pglite.dumpDataDir('none')).arrayBuffer());
      writeAtomically(file, bytes);
      return bytes;
    } finally {
      await db.close();
    }
  })();
  return migratedTarball;
}

/** A new in-memory embedded database: empty (as a first start finds it), or already migrated. */
export async function openEmbeddedDatabase(options: { migrated?: boolean } = {}): Promise<Database> {
  const tarball = options.migrated ? ((await readMigratedTarball()) ?? readEmptyTarball()) : readEmptyTarball();
  return (await openEmbedded(tarball)).db;
}

/**
 * Puts the empty template cluster into a new embedded data directory (where src/store/embedded.ts
 * keeps it, `<dataDir>/pgdata`), so the first authd to open the directory finds a database as after
 * its own initdb, instead of running initdb (5-7 s of CPU). For tests whose subject is not the
 * very first start; those (test/cli/start.test.ts, the README walkthrough) start on nothing.
 */
export function seedDataDir(dataDir: string): void {
  if (!fs.existsSync(TEMPLATE)) return; // then the first command runs initdb, as in production
  const pgdata = path.join(dataDir, 'pgdata');
  fs.mkdirSync(pgdata, { recursive: true, mode: 0o700 });
  const result = spawnSync('tar', ['-xf', TEMPLATE, '-C', pgdata], { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`tar -xf ${TEMPLATE} failed: ${result.stderr}`);
}

// Any fixed number: held only while the template database is checked and, the first time, made.
const POSTGRES_TEMPLATE_LOCK = 0x74657374;
let postgresTemplate: Promise<string> | undefined;

function withDatabase(serverUrl: string, name: string): string {
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

/**
 * The name of a database on the server with every migration applied and nobody connected, to
 * clone: made once per digest, under an advisory lock so that concurrent workers and runs take
 * turns, and renamed into place only when complete.
 */
export function postgresTemplateDatabase(serverUrl: string): Promise<string> {
  postgresTemplate ??= (async () => {
    const name = `authd_test_template_${await migrationsDigest()}`;
    const admin = new Client({ connectionString: serverUrl });
    await admin.connect();
    try {
      await admin.query('SELECT pg_advisory_lock($1)', [POSTGRES_TEMPLATE_LOCK]);
      const found = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
      if (found.rowCount === 0) {
        const building = `${name}_new`;
        await admin.query(`DROP DATABASE IF EXISTS ${building} WITH (FORCE)`); // left by a run that died here
        await admin.query(`CREATE DATABASE ${building}`);
        const db = createPostgresDatabase({ connectionString: withDatabase(serverUrl, building), max: 1 });
        try {
          await migrate(db);
        } finally {
          await db.close();
        }
        await admin.query(`ALTER DATABASE ${building} RENAME TO ${name}`);
      }
    } finally {
      await admin.end(); // and with the session, the lock
    }
    return name;
  })();
  return postgresTemplate;
}
