/**
 * Shared by the fault tests (test/faults/*.test.ts): how they skip, how they seed a scratch
 * database, and an HTTP client that never waits forever and records how long every call took.
 */
import { parseConfig } from '../../src/config';
import { openServices, type Services } from '../../src/services';
import { FAST_ARGON2, silentLogger } from '../support/backends';
import { registerInsteadOfSuite as registerSkippedSuite } from '../support/suite';

export const ISSUER = 'https://authd.faults.test';
export const PASSWORD = 'correct horse battery staple';

/** A request that has not answered after this long counts as hanging. */
export const CLIENT_TIMEOUT_MS = 10_000;

/** Why the fault tests cannot run here, or undefined when they can. */
export function missingRequirement(): string | undefined {
  const { DATABASE_URL, REDIS_URL } = process.env;
  if (!DATABASE_URL || !REDIS_URL)
    return 'DATABASE_URL and REDIS_URL are not both set (a PostgreSQL server for scratch databases, a Redis server)';
  if (!/^redis:\/\//.test(REDIS_URL))
    return 'REDIS_URL must be a plain redis:// URL to run behind the fault-injecting TCP proxy';
  return undefined;
}

export { sleep, waitUntil } from '../support/suite';

export function registerInsteadOfSuite(reason: string, file: string): void {
  registerSkippedSuite(
    reason,
    file,
    'DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres REDIS_URL=redis://127.0.0.1:6379 npm test -- test/faults',
  );
}

/** host and port of a postgres:// or redis:// URL. */
export function endpointOf(url: string, defaultPort: number): { host: string; port: number } {
  const parsed = new URL(url);
  return { host: parsed.hostname.replace(/^\[|\]$/g, ''), port: parsed.port ? Number(parsed.port) : defaultPort };
}

/** The same URL (credentials, database, options) with host:port replaced: through a proxy. */
export function viaProxy(url: string, proxy: { host: string; port: number }): string {
  const parsed = new URL(url);
  parsed.hostname = proxy.host;
  parsed.port = String(proxy.port);
  return parsed.toString();
}

/**
 * Opens the services in-process on the real database (no Redis), runs fn, closes them: how the
 * tests create clients and users before any server runs. Uses the keys directory the server will
 * use, so the client-secret key and signing key are shared.
 */
export async function withSeedServices<T>(
  databaseUrl: string,
  keysDir: string,
  fn: (services: Services) => Promise<T>,
): Promise<T> {
  const config = parseConfig({
    DATABASE_URL: databaseUrl,
    AUTHD_KEYS_DIR: keysDir,
    AUTHD_ISSUER: ISSUER,
    NODE_ENV: 'test',
    ...FAST_ARGON2,
  });
  const services = await openServices(config, { logger: silentLogger });
  try {
    return await fn(services);
  } finally {
    await services.close();
  }
}

/** What one HTTP call came to: an answer, a network error, or the client-side timeout. */
export interface Outcome {
  label: string;
  startedAt: number;
  endedAt: number;
  ms: number;
  /** undefined when there was no HTTP answer at all. */
  status: number | undefined;
  // biome-ignore lint/suspicious/noExplicitAny: the JSON of any endpoint
  body: any;
  retryAfter: string | null;
  error: string | undefined;
  timedOut: boolean;
}

export interface CallOptions {
  method?: string;
  form?: Record<string, string>;
  headers?: Record<string, string>;
  timeoutMs?: number;
}

export async function call(base: string, pathname: string, label: string, options: CallOptions = {}): Promise<Outcome> {
  const startedAt = Date.now();
  const done = (o: Omit<Outcome, 'label' | 'startedAt' | 'endedAt' | 'ms'>): Outcome => {
    const endedAt = Date.now();
    return { label, startedAt, endedAt, ms: endedAt - startedAt, ...o };
  };
  try {
    const res = await fetch(base + pathname, {
      method: options.method ?? (options.form ? 'POST' : 'GET'),
      headers: { ...(options.form && { 'content-type': 'application/x-www-form-urlencoded' }), ...options.headers },
      ...(options.form && { body: new URLSearchParams(options.form).toString() }),
      signal: AbortSignal.timeout(options.timeoutMs ?? CLIENT_TIMEOUT_MS),
    });
    const text = await res.text();
    let body: unknown = text;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      // not JSON: keep the text
    }
    return done({
      status: res.status,
      body,
      retryAfter: res.headers.get('retry-after'),
      error: undefined,
      timedOut: false,
    });
  } catch (error) {
    const err = error as Error & { cause?: { code?: string; message?: string } };
    const timedOut = err.name === 'TimeoutError' || err.name === 'AbortError';
    return done({
      status: undefined,
      body: undefined,
      retryAfter: null,
      error: timedOut
        ? 'client timeout'
        : `${err.message}${err.cause ? ` (${err.cause.code ?? err.cause.message})` : ''}`,
      timedOut,
    });
  }
}

export function basic(id: string, secret: string): string {
  return 'Basic ' + Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64');
}

export function jwtPayload(jwt: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString());
}

/** A one-line summary of outcomes for the test log: counts by status and the slowest call. */
export function summarize(outcomes: Outcome[]): string {
  const byKind = new Map<string, Map<string, number>>();
  for (const o of outcomes) {
    const kind = o.label;
    const key = o.status !== undefined ? String(o.status) : o.timedOut ? 'TIMEOUT' : 'NETERR';
    const counts = byKind.get(kind) ?? new Map<string, number>();
    counts.set(key, (counts.get(key) ?? 0) + 1);
    byKind.set(kind, counts);
  }
  const max = outcomes.reduce((m, o) => Math.max(m, o.ms), 0);
  return (
    [...byKind].map(([kind, counts]) => `${kind} ${[...counts].map(([k, n]) => `${k}×${n}`).join(' ')}`).join('; ') +
    `; slowest ${max} ms`
  );
}
