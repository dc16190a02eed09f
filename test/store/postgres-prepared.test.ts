import { createScratchDatabase } from '../support/backends';
import { createPostgresDatabase } from '../../src/store/postgres';
import type { Database } from '../../src/store/database';

const onPostgres = process.env.DATABASE_URL ? describe : describe.skip;

/** AUTHD_PG_PREPARED_STATEMENTS: parameterised queries as named statements, each parsed once per connection. */
onPostgres('named prepared statements on PostgreSQL', () => {
  let scratch: { url: string; drop(): Promise<void> };
  beforeAll(async () => {
    scratch = await createScratchDatabase();
  });
  afterAll(() => scratch.drop());

  const namedOnConnection = async (db: Database) =>
    await db.query<{ name: string; statement: string }>(
      "SELECT name, statement FROM pg_prepared_statements WHERE name LIKE 'authd_%' AND $1::int = 1",
      [1],
    );

  it('prepares each parameterised text once per connection, inside transactions too, with the same answers', async () => {
    const db = createPostgresDatabase({ connectionString: scratch.url, max: 1, preparedStatements: true });
    try {
      const text = 'SELECT $1::int + $2::int AS sum';
      expect(await db.query(text, [1, 2])).toEqual([{ sum: 3 }]);
      expect(await db.query(text, [40, 2])).toEqual([{ sum: 42 }]);
      expect(await db.transaction((tx) => tx.query(text, [5, 5]))).toEqual([{ sum: 10 }]);
      const named = await namedOnConnection(db);
      expect(named.filter((s) => s.statement === text)).toHaveLength(1);
      // A text without parameters (or several statements) goes unnamed, as before.
      expect(await db.query('SELECT 7 AS n')).toEqual([{ n: 7 }]);
      expect((await namedOnConnection(db)).some((s) => s.statement === 'SELECT 7 AS n')).toBe(false);
    } finally {
      await db.close();
    }
  });

  it('runs the same text on many connections at once', async () => {
    const db = createPostgresDatabase({ connectionString: scratch.url, max: 4, preparedStatements: true });
    try {
      const sums = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          db.query<{ sum: number }>('SELECT $1::int * 2 AS sum, pg_sleep(0.01)', [i]),
        ),
      );
      expect(sums.map((rows) => rows[0]!.sum)).toEqual(Array.from({ length: 20 }, (_, i) => i * 2));
    } finally {
      await db.close();
    }
  });

  it('names nothing when off (the default, safe behind PgBouncer 1.18 in transaction mode)', async () => {
    const db = createPostgresDatabase({ connectionString: scratch.url, max: 1 });
    try {
      await db.query('SELECT $1::int AS n', [1]);
      expect(await namedOnConnection(db)).toEqual([]);
    } finally {
      await db.close();
    }
  });
});
