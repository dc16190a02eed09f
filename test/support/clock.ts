import type { Clock } from '../../src/clock';

export interface TestClock extends Clock {
  advance(ms: number): void;
  set(ms: number): void;
}

/** A clock that moves only when told, starting at a whole second. */
export function createTestClock(start = Date.UTC(2026, 0, 1, 12, 0, 0)): TestClock {
  let current = start;
  return {
    now: () => current,
    advance: (ms) => {
      current += ms;
    },
    set: (ms) => {
      current = ms;
    },
  };
}
