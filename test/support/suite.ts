/**
 * For suites that need services not every machine has (a PostgreSQL server, redis-server,
 * Chromium). Our lint hook refuses `describe.skip`/`it.skip`, so a suite that cannot run registers
 * exactly one test in place of its real ones. Under CI=true that test fails, naming what is
 * missing, so CI can never go green without having run them; elsewhere it passes with a warning,
 * and its name ("is skipped: …") shows the skip in every reporter.
 */
import path from 'node:path';
import { scaled } from './timing';

export function registerInsteadOfSuite(
  reason: string,
  file: string,
  howToRun = 'DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres REDIS_URL=redis://127.0.0.1:6379 npm test',
): void {
  if (process.env.CI === 'true') {
    it(`cannot run under CI=true: ${reason}`, () => {
      throw new Error(`CI=true, but ${reason}. These tests must run in CI.`);
    });
    return;
  }
  it(`is skipped: ${reason}`, () => {
    console.warn(
      `[authd tests] ${path.relative(process.cwd(), file)} SKIPPED: ${reason}.\n  Run it with e.g. ${howToRun}`,
    );
  });
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Polls until check() holds; returns how long that took. */
export async function waitUntil(
  what: string,
  check: () => Promise<boolean> | boolean,
  timeoutMs = scaled(15_000),
  everyMs = 100,
): Promise<number> {
  const start = Date.now();
  for (;;) {
    if (await check()) return Date.now() - start;
    if (Date.now() - start > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}
