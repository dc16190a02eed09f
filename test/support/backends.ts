import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import pino from 'pino';
import { parseConfig, type Config } from '../../src/config';
import { openServices, type Services } from '../../src/services';
import type { Database } from '../../src/store/database';
import { createPostgresDatabase } from '../../src/store/postgres';
import { createTestClock, type TestClock } from './clock';
import { openEmbeddedDatabase, postgresTemplateDatabase } from './templates';

export type BackendName = 'embedded' | 'postgres' | 'postgres+redis';

export interface Backend {
  name: BackendName;
  /**
   * Opens a fresh database for one test suite: empty, as a first start finds it, or with every
   * migration already applied (`migrated`, from a template: see test/support/templates.ts).
   */
  openDatabase(options?: { migrated?: boolean }): Promise<{ db: Database; url?: string; drop(): Promise<void> }>;
  redisUrl?: string;
}

const { DATABASE_URL, REDIS_URL, CI } = process.env;

/** A new database on the server named by DATABASE_URL (a copy of `template` when given), dropped afterwards. */
export async function createScratchDatabase(template?: string): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `authd_test_${crypto.randomBytes(6).toString('hex')}`;
  const admin = new Client({ connectionString: DATABASE_URL });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}${template ? ` TEMPLATE ${template}` : ''}`);
  } finally {
    await admin.end();
  }
  const url = new URL(DATABASE_URL!);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const c = new Client({ connectionString: DATABASE_URL });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}

export interface BackendOptions {
  /**
   * Also the third deployment: PostgreSQL without Redis, so revocations, login and registration
   * throttles live in the database (as on the embedded default) but on a real server, with
   * concurrent connections and its own transaction semantics.
   */
  postgresWithoutRedis?: boolean;
}

function postgresBackend(name: 'postgres' | 'postgres+redis'): Backend {
  return {
    name,
    ...(name === 'postgres+redis' && { redisUrl: REDIS_URL }),
    async openDatabase(options = {}) {
      const scratch = await createScratchDatabase(
        options.migrated ? await postgresTemplateDatabase(DATABASE_URL!) : undefined,
      );
      const db = createPostgresDatabase({ connectionString: scratch.url });
      return {
        db,
        url: scratch.url,
        async drop() {
          await db.close();
          await scratch.drop();
        },
      };
    },
  };
}

/**
 * The backends every storage-dependent test runs on: always the embedded default (in-memory
 * PGlite, revocations in the database), and real Postgres + Redis when DATABASE_URL and REDIS_URL
 * are set. Under CI=true a missing service is a failure, not a skip.
 *
 * Postgres without Redis runs only in the suites that ask for it (`{ postgresWithoutRedis: true }`):
 * those whose behaviour depends on where revocations and throttles are kept (revocation,
 * introspection, demotion, key compromise, brute force and lockout, registration floods, refresh
 * rotation races, the sessions CLI). Every other suite runs the same SQL on the same server as
 * postgres+redis does, so a third run would cost minutes of suite time and test nothing new.
 */
export function backends(options: BackendOptions = {}): Backend[] {
  const list: Backend[] = [
    {
      name: 'embedded',
      async openDatabase(options = {}) {
        const db = await openEmbeddedDatabase(options);
        return { db, drop: () => db.close() };
      },
    },
  ];
  if (DATABASE_URL && REDIS_URL) {
    if (options.postgresWithoutRedis) list.push(postgresBackend('postgres'));
    list.push(postgresBackend('postgres+redis'));
  } else if (CI === 'true') {
    throw new Error(
      'CI=true but DATABASE_URL and REDIS_URL are not both set: the Postgres + Redis half of the suite cannot run.',
    );
  }
  // Otherwise that half is skipped: test/support/global-setup.js says so, once per run.
  return list;
}

/** Fast Argon2 for tests that are not about hashing cost; the hashing tests use the defaults. */
export const FAST_ARGON2 = { AUTHD_ARGON2_MEMORY_KIB: '8192', AUTHD_ARGON2_TIME_COST: '1' };

export interface TestStack {
  backend: BackendName;
  config: Config;
  services: Services;
  clock: TestClock;
  databaseUrl: string | undefined;
  close(): Promise<void>;
}

export function tempDir(prefix = 'authd-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export const silentLogger = pino({ level: 'silent' });

/** A whole authd (services, not yet an HTTP app) on a fresh database of the backend. */
export async function openStack(
  backend: Backend,
  env: Record<string, string> = {},
  clock = createTestClock(),
): Promise<TestStack> {
  const opened = await backend.openDatabase({ migrated: true });
  const keysDir = tempDir('authd-keys-');
  const config = parseConfig({
    AUTHD_ISSUER: 'https://authd.test',
    AUTHD_KEYS_DIR: keysDir,
    NODE_ENV: 'test',
    ...FAST_ARGON2,
    ...(backend.redisUrl && {
      REDIS_URL: backend.redisUrl,
      AUTHD_REDIS_PREFIX: `authd-test:${crypto.randomBytes(4).toString('hex')}:`,
    }),
    ...(opened.url && { DATABASE_URL: opened.url }),
    ...env,
  });
  let services: Services;
  try {
    services = await openServices(config, { db: opened.db, clock, logger: silentLogger });
  } catch (error) {
    await opened.drop();
    throw error;
  }
  return {
    backend: backend.name,
    config,
    services,
    clock,
    databaseUrl: opened.url,
    async close() {
      await services.close();
      await opened.drop();
      fs.rmSync(keysDir, { recursive: true, force: true });
    },
  };
}
