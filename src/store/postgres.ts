import crypto from 'node:crypto';
import { Pool, type PoolClient, type PoolConfig } from 'pg';
import { UnavailableError } from '../errors';
import type { Connection, Database } from './database';

export interface PostgresOptions {
  connectionString: string;
  max?: number;
  /** Bounds every wait: a dead database answers 503 quickly instead of hanging requests. */
  connectionTimeoutMillis?: number;
  statementTimeoutMillis?: number;
  /**
   * Named (server-side prepared) statements for parameterised queries: PostgreSQL parses and plans
   * each text once per connection. Only over a direct connection or a pooler that keeps them
   * (PgBouncer 1.21+ with max_prepared_statements): PgBouncer 1.18 in transaction mode does not.
   */
  preparedStatements?: boolean;
}

// Bounds what each server connection keeps: texts past these limits go unnamed.
const MAX_PREPARED_TEXTS = 256;
const MAX_PREPARED_TEXT_LENGTH = 4096;

/** pg's query config for a text: named after a digest of the text, so every connection agrees. */
function statementNamer(enabled: boolean) {
  const names = new Map<string, string>();
  return (text: string, values: unknown[] | undefined): { text: string; values?: unknown[]; name?: string } => {
    if (!enabled || values === undefined || values.length === 0 || text.length > MAX_PREPARED_TEXT_LENGTH)
      return { text, values };
    let name = names.get(text);
    if (name === undefined) {
      if (names.size >= MAX_PREPARED_TEXTS) return { text, values };
      name = `authd_${crypto.createHash('sha256').update(text).digest('base64url').slice(0, 22)}`;
      names.set(text, name);
    }
    return { text, values, name };
  };
}

/*
 * Everything here also works through PgBouncer in transaction pooling mode with its default
 * settings (1.18): no startup parameters beyond user and database (a `statement_timeout` one is
 * refused), no session state (timeouts are SET LOCAL, advisory locks are transaction-level), and
 * only unnamed prepared statements (pg's default for parameterised queries) unless
 * AUTHD_PG_PREPARED_STATEMENTS turns named ones on for a direct connection.
 */

// Connection-level failures (as opposed to SQL errors) mean the database is unavailable.
const UNAVAILABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  '57P01',
  '57P02',
  '57P03',
  '53300',
]);

function translate(error: unknown): unknown {
  const err = error as { code?: string; message?: string };
  if (
    err &&
    (UNAVAILABLE_CODES.has(err.code ?? '') ||
      /timeout|terminat|Connection terminated|not queryable/i.test(err.message ?? ''))
  ) {
    return new UnavailableError('postgres', { cause: error });
  }
  return error;
}

function wrap(client: PoolClient, named: ReturnType<typeof statementNamer>): Connection {
  return {
    async query<Row>(text: string, params?: readonly unknown[]) {
      try {
        return (await client.query(named(text, params as unknown[] | undefined))).rows as Row[];
      } catch (error) {
        throw translate(error);
      }
    },
    async exec(sql: string) {
      await client.query(sql);
    },
  };
}

export function createPostgresDatabase(options: PostgresOptions): Database {
  const statementTimeout = options.statementTimeoutMillis ?? 5000;
  // Server-side bound inside transactions, in the same round trip as BEGIN.
  const begin = `BEGIN; SET LOCAL statement_timeout = ${Math.trunc(statementTimeout)}`;
  const config: PoolConfig = {
    connectionString: options.connectionString,
    max: options.max ?? 10,
    connectionTimeoutMillis: options.connectionTimeoutMillis ?? 3000,
    // Client-side bound for single statements: the connection is dropped when it fires.
    query_timeout: statementTimeout + 1000,
    idleTimeoutMillis: 30000,
  };
  const pool = new Pool(config);
  const named = statementNamer(options.preparedStatements ?? false);
  // An idle client losing its connection must not crash the process; the next query reconnects.
  pool.on('error', () => {});

  async function withClient<T>(fn: (client: PoolClient) => Promise<T>): Promise<T> {
    let client: PoolClient;
    try {
      client = await pool.connect();
    } catch (error) {
      throw new UnavailableError('postgres', { cause: error });
    }
    let broken: Error | undefined;
    try {
      return await fn(client);
    } catch (error) {
      if (error instanceof UnavailableError) broken = error;
      throw error;
    } finally {
      client.release(broken);
    }
  }

  return {
    kind: 'postgres',
    async query<Row>(text: string, params?: readonly unknown[]) {
      try {
        return (await pool.query(named(text, params as unknown[] | undefined))).rows as Row[];
      } catch (error) {
        throw translate(error);
      }
    },
    transaction<T>(fn: (tx: Connection) => Promise<T>) {
      return withClient(async (client) => {
        const conn = wrap(client, named);
        await conn.query(begin);
        try {
          const result = await fn(conn);
          await conn.query('COMMIT');
          return result;
        } catch (error) {
          await client.query('ROLLBACK').catch(() => {});
          throw error;
        }
      });
    },
    // A transaction-level lock held by an open transaction: a session-level one would stay with
    // whichever server connection a transaction pooler happened to hand out.
    withAdvisoryLock<T>(key: number, fn: (conn: Connection) => Promise<T>) {
      return this.transaction(async (conn) => {
        await conn.query('SELECT pg_advisory_xact_lock($1)', [key]);
        return fn(conn);
      });
    },
    async ping() {
      await this.query('SELECT 1');
    },
    async close() {
      await pool.end();
    },
  };
}
