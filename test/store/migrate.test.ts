import fs from 'node:fs';
import path from 'node:path';
import type { Database } from '../../src/store/database';
import { migrate, MIGRATIONS_DIR, readMigrations, type Migration } from '../../src/store/migrate';
import { backends } from '../support/backends';

const tableExists = async (db: Database, name: string): Promise<boolean> =>
  (await db.query<{ t: string | null }>('SELECT to_regclass($1)::text AS t', [name]))[0].t !== null;

const appliedVersions = async (db: Database): Promise<string[]> =>
  (await db.query<{ version: string }>('SELECT version FROM schema_migrations ORDER BY version')).map((r) => r.version);

describe('readMigrations', () => {
  it('reads every numbered .sql file in migrations/, in order', async () => {
    const files = fs
      .readdirSync(MIGRATIONS_DIR)
      .filter((f) => /^\d+_[\w-]+\.sql$/.test(f))
      .sort();
    const migrations = await readMigrations();
    expect(migrations.map((m) => m.version)).toEqual(files.map((f) => f.replace(/\.sql$/, '')));
    expect(migrations.map((m) => m.sql)).toEqual(
      files.map((f) => fs.readFileSync(path.join(MIGRATIONS_DIR, f), 'utf8')),
    );
    expect(migrations.length).toBeGreaterThanOrEqual(3);
  });
});

describe.each(backends())('migrate on $name', (backend) => {
  let db: Database;
  let drop: () => Promise<void>;

  beforeEach(async () => {
    ({ db, drop } = await backend.openDatabase());
  });
  afterEach(() => drop());

  it('applies every migration once; a second run applies nothing', async () => {
    const versions = (await readMigrations()).map((m) => m.version);
    expect(await migrate(db)).toEqual(versions);
    expect(await appliedVersions(db)).toEqual(versions);
    for (const table of [
      'users',
      'clients',
      'signing_keys',
      'sessions',
      'refresh_tokens',
      'revocations',
      'login_throttle',
      'audit_events',
    ]) {
      expect([table, await tableExists(db, table)]).toEqual([table, true]);
    }

    expect(await migrate(db)).toEqual([]);
    expect(await appliedVersions(db)).toEqual(versions);
  });

  it('applies only the migrations not yet recorded', async () => {
    const all = await readMigrations();
    expect(await migrate(db, all.slice(0, 1))).toEqual([all[0].version]);
    expect(await migrate(db)).toEqual(all.slice(1).map((m) => m.version));
    expect(await appliedVersions(db)).toEqual(all.map((m) => m.version));
  });

  it('rolls a failing migration back whole and names its version', async () => {
    const migrations: Migration[] = [
      { version: '0001_good', sql: 'CREATE TABLE good_table (id int PRIMARY KEY);' },
      {
        version: '0002_bad',
        sql: `CREATE TABLE partial_table (id int PRIMARY KEY);
              INSERT INTO good_table (id) VALUES (1);
              ALTER TABLE good_table ADD COLUMN added text;
              INSERT INTO no_such_table VALUES (1);`,
      },
      { version: '0003_after', sql: 'CREATE TABLE after_table (id int);' },
    ];
    await expect(migrate(db, migrations)).rejects.toThrow(/^migration 0002_bad failed: .*no_such_table/);

    // The good one stays applied; nothing of the bad one is left; the later one never ran.
    expect(await appliedVersions(db)).toEqual(['0001_good']);
    expect(await tableExists(db, 'good_table')).toBe(true);
    expect(await tableExists(db, 'partial_table')).toBe(false);
    expect(await tableExists(db, 'after_table')).toBe(false);
    expect(await db.query('SELECT * FROM good_table')).toEqual([]);
    expect(
      (
        await db.query<{ column_name: string }>(
          "SELECT column_name FROM information_schema.columns WHERE table_name = 'good_table' ORDER BY column_name",
        )
      ).map((r) => r.column_name),
    ).toEqual(['id']);

    // The connection is usable afterwards, and a fixed migration applies.
    migrations[1] = { version: '0002_bad', sql: 'CREATE TABLE partial_table (id int PRIMARY KEY);' };
    expect(await migrate(db, migrations)).toEqual(['0002_bad', '0003_after']);
    expect(await appliedVersions(db)).toEqual(['0001_good', '0002_bad', '0003_after']);
  });

  it('reports a syntax error with the version', async () => {
    await expect(migrate(db, [{ version: '0001_typo', sql: 'CREAT TABLE nope (id int);' }])).rejects.toThrow(
      /^migration 0001_typo failed: .*syntax error/,
    );
    expect(await appliedVersions(db)).toEqual([]);
  });

  it('keeps the cause of a failure', async () => {
    const error = await migrate(db, [{ version: '0001_bad', sql: 'SELECT 1/0;' }]).catch((e: unknown) => e as Error);
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toMatch(/^migration 0001_bad failed: division by zero/);
    const { cause } = error as Error & { cause?: unknown };
    expect(cause).toBeInstanceOf(Error);
    expect((cause as Error).message).toMatch(/division by zero/);
  });

  // Postgres only: one embedded database has one owner, which runs it once.
  if (backend.name === 'postgres+redis')
    it('lets two concurrent runs take turns: each migration is applied once, in order', async () => {
      const versions = (await readMigrations()).map((m) => m.version);
      // The lock is taken per migration (transaction-level, so it works through PgBouncer): the two
      // runs may share the work, but never apply one migration twice or one before its predecessor.
      const [a, b] = await Promise.all([migrate(db), migrate(db)]);
      expect([...a, ...b].sort()).toEqual(versions);
      const byTime = await db.query<{ version: string }>(
        'SELECT version FROM schema_migrations ORDER BY applied_at, version',
      );
      expect(byTime.map((r) => r.version)).toEqual(versions);
      expect(await appliedVersions(db)).toEqual(versions);
    });
});
