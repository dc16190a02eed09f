import type { Database } from './database';
import { MIGRATION_LOCK } from './migrate';

// The number after the migration lock's: a lock of its own, shared by every instance.
const STARTUP_LOCK = MIGRATION_LOCK + 1;

/** Runs fn while no other instance runs start-up work (the first signing key, key rotation). */
export function withStartupLock<T>(db: Database, fn: () => Promise<T>): Promise<T> {
  return db.withAdvisoryLock(STARTUP_LOCK, fn);
}
