import { Pool, type PoolClient, type PoolConfig } from 'pg';
import { UnavailableError } from '../errors';
import type { Database, Queryable } from './database';

export interface PostgresOptions {
  connectionString: string;
  max?: number;
  /** Bounds every wait: a dead database answers 503 quickly instead of hanging requests. */
  connectionTimeoutMillis?: number;
  statementTimeoutMillis?: number;
}

// Connection-level failures (as opposed to SQL errors) mean the database is unavailable.
const UNAVAILABLE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', '57P01', '57P02', '57P03', '53300']);

function translate(error: unknown): unknown {
  const err = error as { code?: string; message?: string };
  if (err && (UNAVAILABLE_CODES.has(err.code ?? '') || /timeout|terminat|Connection terminated|not queryable/i.test(err.message ?? ''))) {
    return new UnavailableError('postgres', { cause: error });
  }
  return error;
}

function wrap(client: PoolClient): Queryable & { exec(sql: string): Promise<void> } {
  return {
    async query<Row>(text: string, params?: readonly unknown[]) {
      try {
        return (await client.query(text, params as unknown[])).rows as Row[];
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
  const config: PoolConfig = {
    connectionString: options.connectionString,
    max: options.max ?? 10,
    connectionTimeoutMillis: options.connectionTimeoutMillis ?? 3000,
    statement_timeout: options.statementTimeoutMillis ?? 5000,
    query_timeout: (options.statementTimeoutMillis ?? 5000) + 1000,
    idleTimeoutMillis: 30000,
  };
  const pool = new Pool(config);
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
        return (await pool.query(text, params as unknown[])).rows as Row[];
      } catch (error) {
        throw translate(error);
      }
    },
    transaction<T>(fn: (tx: Queryable) => Promise<T>) {
      return withClient(async (client) => {
        const conn = wrap(client);
        await conn.query('BEGIN');
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
    withAdvisoryLock<T>(key: number, fn: (conn: Queryable & { exec(sql: string): Promise<void> }) => Promise<T>) {
      return withClient(async (client) => {
        const conn = wrap(client);
        await conn.query('SELECT pg_advisory_lock($1)', [key]);
        try {
          return await fn(conn);
        } finally {
          await client.query('SELECT pg_advisory_unlock($1)', [key]).catch(() => {});
        }
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
