import type { Clock } from '../clock';

/**
 * Whether the Redis revocation index may answer lookups. It is trusted only after a complete
 * re-seed that began at least `settleMs` after the last (re)connection, with no write failing
 * between that re-seed's start and its end; a failed write, a lost connection or a missing epoch
 * distrusts it again. While it is distrusted, re-seeds are paced: at most one attempt per
 * `retryIntervalMs`, none before the connection has settled.
 *
 * Why settle: after a failover every instance reconnects to the promoted replica, each at its
 * own retry delay. A revocation taken by an instance that has not reconnected yet reaches only
 * the database (its Redis write fails, and so does its attempt to drop the epoch). A copy made
 * by an instance that reconnected earlier would lack it; one made once the others have had
 * `settleMs` to reconnect reads it from the database.
 */
export interface IndexTrust {
  trusted(): boolean;
  /** The index may be incomplete (a failed lookup, a missing epoch). */
  distrust(): void;
  /** The connection (re)opened, possibly to another node: distrusted until a copy made `settleMs` later. */
  reconnected(): void;
  /** A revocation reached the database but not the index. */
  writeFailed(): void;
  /** A complete copy starts now; `completed()` once it is written (it trusts the index only if no write failed meanwhile). */
  reseedStarted(): { completed(): void };
  /** Whether a re-seed may be attempted now (the last attempt was `retryIntervalMs` ago or more). */
  mayRetry(): boolean;
}

export function createIndexTrust(clock: Clock, retryIntervalMs = 1000, settleMs = 0): IndexTrust {
  let trusted = false;
  let failedWrites = 0;
  let lastAttempt = -Infinity;
  let settlesAt = -Infinity;
  return {
    trusted: () => trusted,
    distrust() {
      trusted = false;
    },
    reconnected() {
      trusted = false;
      settlesAt = clock.now() + settleMs;
    },
    writeFailed() {
      failedWrites++;
      trusted = false;
    },
    reseedStarted() {
      const startedAt = clock.now();
      lastAttempt = startedAt;
      const failuresBefore = failedWrites;
      return {
        completed() {
          // A write that failed meanwhile may be missing from what was just copied.
          if (failedWrites === failuresBefore && startedAt >= settlesAt) trusted = true;
        },
      };
    },
    mayRetry: () => clock.now() >= settlesAt && clock.now() - lastAttempt >= retryIntervalMs,
  };
}
