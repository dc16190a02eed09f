import { CapacityError, createConcurrencyLimiter, type ConcurrencyLimiter } from '../../src/users/hash-limiter';

/** A promise settled from outside: a task that runs until the test lets it finish. */
function deferred<T = void>() {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Lets every pending promise callback run (the limiter hands slots over in microtasks). */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Records the state of a promise without awaiting it. */
function track<T>(promise: Promise<T>) {
  const state: { status: 'pending' | 'fulfilled' | 'rejected'; value?: T; error?: unknown } = { status: 'pending' };
  promise.then(
    (value) => Object.assign(state, { status: 'fulfilled', value }),
    (error) => Object.assign(state, { status: 'rejected', error }),
  );
  return state;
}

describe('createConcurrencyLimiter', () => {
  it('never runs more than `concurrency` tasks at once, and uses all of them', async () => {
    const limiter = createConcurrencyLimiter({ concurrency: 3, maxQueue: 100, maxWaitMs: 10_000 });
    let running = 0;
    let maxRunning = 0;
    const gates = Array.from({ length: 12 }, () => deferred());
    const results = gates.map((gate, i) =>
      limiter.run(async () => {
        running++;
        maxRunning = Math.max(maxRunning, running);
        await gate.promise;
        running--;
        return i;
      }),
    );
    await settle();
    expect(running).toBe(3);
    expect(limiter.stats()).toEqual({ active: 3, queued: 9, concurrency: 3 });

    // Finish them in a scrambled order; each finish lets exactly one waiting task in.
    for (const i of [1, 0, 2, 5, 3, 4, 8, 6, 7, 11, 9, 10]) {
      gates[i].resolve();
      await settle();
      expect(running).toBeLessThanOrEqual(3);
    }
    expect(await Promise.all(results)).toEqual([...Array(12).keys()]);
    expect(maxRunning).toBe(3);
    expect(limiter.stats()).toEqual({ active: 0, queued: 0, concurrency: 3 });
  });

  it('starts waiting tasks first in, first out', async () => {
    const limiter = createConcurrencyLimiter({ concurrency: 1, maxQueue: 10, maxWaitMs: 10_000 });
    const started: number[] = [];
    const gates = Array.from({ length: 6 }, () => deferred());
    const results = gates.map((gate, i) =>
      limiter.run(async () => {
        started.push(i);
        await gate.promise;
      }),
    );
    await settle();
    expect(started).toEqual([0]);
    for (let i = 0; i < 6; i++) {
      gates[i].resolve();
      await settle();
    }
    await Promise.all(results);
    expect(started).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it('rejects at once with CapacityError when the queue is full, without running the task', async () => {
    const limiter = createConcurrencyLimiter({ concurrency: 2, maxQueue: 3, maxWaitMs: 60_000 });
    const gate = deferred();
    const held = Array.from({ length: 5 }, () => limiter.run(() => gate.promise)); // 2 running, 3 waiting
    expect(limiter.stats()).toEqual({ active: 2, queued: 3, concurrency: 2 });

    const task = jest.fn(async () => 'ran');
    const overflow = track(limiter.run(task));
    await settle(); // far less than maxWaitMs: the refusal does not wait for a timer
    expect(overflow.status).toBe('rejected');
    expect(overflow.error).toBeInstanceOf(CapacityError);
    expect((overflow.error as CapacityError).retryAfterSeconds).toBe(1);
    expect(task).not.toHaveBeenCalled();
    expect(limiter.stats()).toEqual({ active: 2, queued: 3, concurrency: 2 });

    gate.resolve();
    await Promise.all(held);
    // Once there is room again, tasks run.
    await expect(limiter.run(task)).resolves.toBe('ran');
  });

  describe('queue timeout', () => {
    beforeEach(() => jest.useFakeTimers());
    afterEach(() => jest.useRealTimers());

    it('rejects a task that waited longer than maxWaitMs with CapacityError, and never runs it', async () => {
      const limiter = createConcurrencyLimiter({ concurrency: 1, maxQueue: 10, maxWaitMs: 100 });
      const gate = deferred();
      const first = limiter.run(() => gate.promise);
      const late = jest.fn(async () => 'late');
      const waiting = track(limiter.run(late));

      await jest.advanceTimersByTimeAsync(99);
      expect(waiting.status).toBe('pending');
      expect(limiter.stats().queued).toBe(1);
      await jest.advanceTimersByTimeAsync(1);
      expect(waiting.status).toBe('rejected');
      expect(waiting.error).toBeInstanceOf(CapacityError);
      expect(limiter.stats()).toEqual({ active: 1, queued: 0, concurrency: 1 });

      gate.resolve();
      await first;
      expect(late).not.toHaveBeenCalled();
      expect(limiter.stats()).toEqual({ active: 0, queued: 0, concurrency: 1 });
    });

    it('keeps the others in line when a task in the middle of the queue times out', async () => {
      const limiter = createConcurrencyLimiter({ concurrency: 1, maxQueue: 10, maxWaitMs: 100 });
      const started: string[] = [];
      const gate = deferred();
      const first = limiter.run(async () => {
        started.push('a');
        await gate.promise;
      });
      const b = track(
        limiter.run(async () => {
          started.push('b');
        }),
      );
      await jest.advanceTimersByTimeAsync(50);
      const c = limiter.run(async () => {
        started.push('c');
      });
      const d = limiter.run(async () => {
        started.push('d');
      });
      await jest.advanceTimersByTimeAsync(50); // b has waited 100 ms; c and d 50 ms
      expect(b.status).toBe('rejected');
      expect(limiter.stats().queued).toBe(2);

      gate.resolve();
      await Promise.all([first, c, d]);
      expect(started).toEqual(['a', 'c', 'd']);
      expect(limiter.stats()).toEqual({ active: 0, queued: 0, concurrency: 1 });
    });

    it('does not time out a task once it has started, however long it runs', async () => {
      const limiter = createConcurrencyLimiter({ concurrency: 1, maxQueue: 10, maxWaitMs: 100 });
      const gate = deferred<string>();
      const first = limiter.run(async () => 'first');
      const second = track(limiter.run(() => gate.promise)); // queued, then started when first ends
      await first;
      await jest.advanceTimersByTimeAsync(10_000);
      expect(second.status).toBe('pending');
      gate.resolve('second');
      await jest.advanceTimersByTimeAsync(0);
      expect(second).toEqual({ status: 'fulfilled', value: 'second' });
    });
  });

  describe('a failing task frees its slot', () => {
    let limiter: ConcurrencyLimiter;
    beforeEach(() => {
      limiter = createConcurrencyLimiter({ concurrency: 1, maxQueue: 10, maxWaitMs: 10_000 });
    });

    it('after a rejected promise, passing the error through', async () => {
      const boom = new Error('boom');
      await expect(limiter.run(() => Promise.reject(boom))).rejects.toBe(boom);
      expect(limiter.stats()).toEqual({ active: 0, queued: 0, concurrency: 1 });
      await expect(limiter.run(async () => 'next')).resolves.toBe('next');
    });

    it('after a synchronous throw', async () => {
      await expect(
        limiter.run(() => {
          throw new Error('sync');
        }),
      ).rejects.toThrow('sync');
      expect(limiter.stats().active).toBe(0);
      await expect(limiter.run(async () => 'next')).resolves.toBe('next');
    });

    it('to the next waiting task', async () => {
      const gate = deferred();
      const failing = limiter.run(async () => {
        await gate.promise;
        throw new Error('argon2 failed');
      });
      const next = limiter.run(async () => 'next');
      expect(limiter.stats()).toEqual({ active: 1, queued: 1, concurrency: 1 });
      gate.resolve();
      await expect(failing).rejects.toThrow('argon2 failed');
      await expect(next).resolves.toBe('next');
      expect(limiter.stats()).toEqual({ active: 0, queued: 0, concurrency: 1 });
    });

    it('even after many failures in a row (no slot leaks)', async () => {
      const errors = await Promise.allSettled(
        Array.from({ length: 25 }, () => limiter.run(() => Promise.reject(new Error('x')))),
      );
      expect(errors.filter((r) => r.status === 'rejected')).toHaveLength(25);
      expect(limiter.stats()).toEqual({ active: 0, queued: 0, concurrency: 1 });
    });
  });

  it('frees the slot of a task rejected at capacity: the counters stay exact', async () => {
    const limiter = createConcurrencyLimiter({ concurrency: 1, maxQueue: 1, maxWaitMs: 10_000 });
    const gate = deferred();
    const held = [limiter.run(() => gate.promise), limiter.run(() => gate.promise)];
    const refused = await Promise.allSettled(Array.from({ length: 5 }, () => limiter.run(async () => 'x')));
    expect(refused.every((r) => r.status === 'rejected' && r.reason instanceof CapacityError)).toBe(true);
    expect(limiter.stats()).toEqual({ active: 1, queued: 1, concurrency: 1 });
    gate.resolve();
    await Promise.all(held);
    expect(limiter.stats()).toEqual({ active: 0, queued: 0, concurrency: 1 });
  });
});

describe('a low-priority lane (self-registration)', () => {
  it('never holds more than its share of the slots, so the main lane always keeps the rest', async () => {
    const limiter = createConcurrencyLimiter({ concurrency: 4, maxQueue: 100, maxWaitMs: 10_000 });
    const lane = limiter.lane({ concurrency: 1, maxQueue: 3 });
    const laneGates = Array.from({ length: 4 }, () => deferred());
    let laneRunning = 0;
    const laneTasks = laneGates.map((gate) =>
      track(
        lane.run(async () => {
          laneRunning++;
          await gate.promise;
          laneRunning--;
        }),
      ),
    );
    await settle();
    expect(laneRunning).toBe(1);
    expect(limiter.stats()).toEqual({ active: 1, queued: 3, concurrency: 4 });

    // Three main tasks start at once beside it.
    const mainGates = Array.from({ length: 3 }, () => deferred());
    const mainTasks = mainGates.map((gate) => track(limiter.run(() => gate.promise)));
    await settle();
    expect(limiter.stats()).toEqual({ active: 4, queued: 3, concurrency: 4 });

    for (const gate of [...laneGates, ...mainGates]) gate.resolve();
    await Promise.all([...laneGates, ...mainGates].map((g) => g.promise));
    await settle();
    await settle();
    expect([...laneTasks, ...mainTasks].map((t) => t.status)).toEqual(Array(7).fill('fulfilled'));
    expect(limiter.stats()).toEqual({ active: 0, queued: 0, concurrency: 4 });
  });

  it('refuses lane tasks past its own queue at once, without touching the main queue', async () => {
    const limiter = createConcurrencyLimiter({ concurrency: 1, maxQueue: 10, maxWaitMs: 10_000 });
    const lane = limiter.lane({ concurrency: 1, maxQueue: 2 });
    const gate = deferred();
    const running = lane.run(() => gate.promise);
    const queued = [lane.run(async () => {}), lane.run(async () => {})];
    await expect(lane.run(async () => {})).rejects.toBeInstanceOf(CapacityError);
    // The main lane still queues up to its own bound.
    const main = Array.from({ length: 10 }, () => limiter.run(async () => {}));
    await expect(limiter.run(async () => {})).rejects.toBeInstanceOf(CapacityError);
    gate.resolve();
    await Promise.all([running, ...queued, ...main]);
  });

  it('hands a freed slot to a waiting main task before any waiting lane task', async () => {
    const limiter = createConcurrencyLimiter({ concurrency: 1, maxQueue: 10, maxWaitMs: 10_000 });
    const lane = limiter.lane({ concurrency: 1, maxQueue: 10 });
    const started: string[] = [];
    const gate = deferred();
    const first = lane.run(async () => {
      started.push('lane-1');
      await gate.promise;
    });
    const laneWaiting = lane.run(async () => {
      started.push('lane-2');
    });
    const mainWaiting = limiter.run(async () => {
      started.push('main');
    });
    await settle();
    gate.resolve();
    await Promise.all([first, laneWaiting, mainWaiting]);
    expect(started).toEqual(['lane-1', 'main', 'lane-2']);
  });
});
