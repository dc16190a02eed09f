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

export interface LaneOptions {
  /** At most this many of the limiter's slots at once. */
  concurrency: number;
  /** At most this many of the lane's tasks waiting. */
  maxQueue: number;
}

export interface PrioritizedLimiter extends ConcurrencyLimiter {
  /**
   * A lane of lower priority (self-registration): its tasks take at most `concurrency` of the
   * slots, wait in their own bounded queue, and start only when no task of the main lane waits.
   */
  lane(options: LaneOptions): ConcurrencyLimiter;
}

interface Waiter {
  start: () => void;
  timer: NodeJS.Timeout;
}

interface Queue {
  waiting: Waiter[];
  active: number;
  concurrency: number;
  maxQueue: number;
}

/**
 * At most `concurrency` tasks at once (Argon2 memory × concurrency stays within the budget); up to
 * `maxQueue` more wait, each at most `maxWaitMs`; beyond that a task fails at once with
 * CapacityError. Waiting is first in, first out within a lane; the main lane goes first.
 */
export function createConcurrencyLimiter(options: {
  concurrency: number;
  maxQueue: number;
  maxWaitMs: number;
}): PrioritizedLimiter {
  let active = 0;
  const main: Queue = { waiting: [], active: 0, concurrency: options.concurrency, maxQueue: options.maxQueue };
  const lanes: Queue[] = [];

  const canStart = (queue: Queue) => active < options.concurrency && queue.active < queue.concurrency;

  function begin(queue: Queue): void {
    active++;
    queue.active++;
  }

  /** Hands free slots to waiting tasks: the main lane first, then the lanes in order. */
  function dispatch(): void {
    for (const queue of [main, ...lanes]) {
      while (canStart(queue)) {
        const next = queue.waiting.shift();
        if (!next) break;
        clearTimeout(next.timer);
        begin(queue);
        next.start();
      }
    }
  }

  function acquire(queue: Queue): Promise<void> {
    // A waiting main-lane task goes before any lane task, even with a lane slot free.
    const mainWaits = queue !== main && main.waiting.length > 0;
    if (canStart(queue) && queue.waiting.length === 0 && !mainWaits) {
      begin(queue);
      return Promise.resolve();
    }
    if (queue.waiting.length >= queue.maxQueue) return Promise.reject(new CapacityError());
    return new Promise((resolve, reject) => {
      const entry: Waiter = {
        start: resolve,
        timer: setTimeout(() => {
          queue.waiting.splice(queue.waiting.indexOf(entry), 1);
          reject(new CapacityError());
        }, options.maxWaitMs),
      };
      queue.waiting.push(entry);
    });
  }

  function limiterFor(queue: Queue): ConcurrencyLimiter {
    return {
      async run(fn) {
        await acquire(queue);
        try {
          return await fn();
        } finally {
          active--;
          queue.active--;
          dispatch();
        }
      },
      stats: () => ({
        active,
        queued: [main, ...lanes].reduce((n, q) => n + q.waiting.length, 0),
        concurrency: options.concurrency,
      }),
    };
  }

  return {
    ...limiterFor(main),
    lane(laneOptions) {
      const queue: Queue = { waiting: [], active: 0, ...laneOptions };
      lanes.push(queue);
      return limiterFor(queue);
    },
  };
}
