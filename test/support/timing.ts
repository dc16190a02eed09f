/**
 * How much slower than a quiet developer machine this run may be. jest.config.js sets it from
 * the number of cores and the load at the start (or TEST_TIME_FACTOR when given), so
 * timeouts of hooks, tests and waits stretch on a busy 2-core machine instead of failing there.
 */
const TIME_FACTOR = Math.max(1, Number(process.env.TEST_TIME_FACTOR) || 1);

/** A timeout for this machine: `ms` as measured on a quiet one. */
export const scaled = (ms: number): number => Math.round(ms * TIME_FACTOR);
