import type { Clock } from '../clock';

/**
 * Whether the Redis revocation index may answer lookups. It is trusted only after a complete
 * re-seed that began after the last (re)connection, with no write failing between that re-seed's
 * start and its end; a failed write, a lost connection or a missing epoch distrusts it again.
 * While it is distrusted, re-seeds are paced: at most one attempt per `retryIntervalMs`.
 */
export interface IndexTrust {
  trusted(): boolean;
  /** The index may be incomplete (a reconnection, a failed lookup, a missing epoch). */
  distrust(): void;
  /** A revocation reached the database but not the index. */
  writeFailed(): void;
  /** A complete copy starts now; `completed()` once it is written (it trusts the index only if no write failed meanwhile). */
  reseedStarted(): { completed(): void };
  /** Whether a re-seed may be attempted now (the last attempt was `retryIntervalMs` ago or more). */
  mayRetry(): boolean;
}

export function createIndexTrust(clock: Clock, retryIntervalMs = 1000): IndexTrust {
  let trusted = false;
  let failedWrites = 0;
  let lastAttempt = -Infinity;
  return {
    trusted: () => trusted,
    distrust() {
      trusted = false;
    },
    writeFailed() {
      failedWrites++;
      trusted = false;
    },
    reseedStarted() {
      lastAttempt = clock.now();
      const failuresBefore = failedWrites;
      return {
        completed() {
          // A write that failed meanwhile may be missing from what was just copied.
          if (failedWrites === failuresBefore) trusted = true;
        },
      };
    },
    mayRetry: () => clock.now() - lastAttempt >= retryIntervalMs,
  };
}
