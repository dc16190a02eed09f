/** Too many password hashes already running or waiting: answer 503 rather than exhaust memory. */
export class CapacityError extends Error {
  constructor(readonly retryAfterSeconds = 1) {
    super('password hashing is at capacity');
    this.name = 'CapacityError';
  }
}

export interface ConcurrencyLimiter {
  run<T>(fn: () => Promise<T>): Promise<T>;
  stats(): { active: number; queued: number; concurrency: number };
}

/**
 * At most `concurrency` tasks at once (Argon2 memory × concurrency stays within the budget); up to
 * `maxQueue` more wait, each at most `maxWaitMs`; beyond that a task fails at once with
 * CapacityError. Waiting is first in, first out.
 */
export function createConcurrencyLimiter(options: { concurrency: number; maxQueue: number; maxWaitMs: number }): ConcurrencyLimiter {
  let active = 0;
  const waiting: Array<{ start: () => void; timer: NodeJS.Timeout }> = [];

  function release(): void {
    const next = waiting.shift();
    if (next) {
      clearTimeout(next.timer);
      next.start(); // the slot passes straight to the next task
    } else {
      active--;
    }
  }

  function acquire(): Promise<void> {
    if (active < options.concurrency) {
      active++;
      return Promise.resolve();
    }
    if (waiting.length >= options.maxQueue) return Promise.reject(new CapacityError());
    return new Promise((resolve, reject) => {
      const entry = {
        start: resolve,
        timer: setTimeout(() => {
          waiting.splice(waiting.indexOf(entry), 1);
          reject(new CapacityError());
        }, options.maxWaitMs),
      };
      waiting.push(entry);
    });
  }

  return {
    async run(fn) {
      await acquire();
      try {
        return await fn();
      } finally {
        release();
      }
    },
    stats: () => ({ active, queued: waiting.length, concurrency: options.concurrency }),
  };
}
