/**
 * The one interface every SQL-speaking part of authd uses. Two implementations: Postgres through
 * `pg` and the embedded PGlite. Both run the same SQL, so repositories are written once.
 */
export interface Queryable {
  query<Row = Record<string, unknown>>(text: string, params?: readonly unknown[]): Promise<Row[]>;
}

/** A Queryable that can also run a multi-statement script (a migration). */
export interface Connection extends Queryable {
  exec(sql: string): Promise<void>;
}

export interface Database extends Queryable {
  readonly kind: 'postgres' | 'embedded';
  /** Runs fn in one transaction on one connection; rolls back when fn throws. */
  transaction<T>(fn: (tx: Connection) => Promise<T>): Promise<T>;
  /**
   * Runs fn while holding an advisory lock, so two instances never do it at once. The lock is
   * transaction-level (it works through a transaction pooler): conn is inside that transaction,
   * and fn's work on other connections is not part of it.
   */
  withAdvisoryLock<T>(key: number, fn: (conn: Connection) => Promise<T>): Promise<T>;
  /** A cheap round trip for readiness checks. */
  ping(): Promise<void>;
  close(): Promise<void>;
}
