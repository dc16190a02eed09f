import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { parseRedisUrl } from './store/redis';
import { parseTrustProxy, type TrustProxy } from './trust-proxy';
import { autoWorkerCount } from './worker-count';

/** Every setting authd reads, typed and frozen. Environment variables are the only source. */
export interface Config {
  readonly host: string;
  readonly port: number;
  readonly issuer: string;
  readonly databaseUrl: string | undefined;
  /** Named prepared statements on PostgreSQL (a direct connection, or a pooler that keeps them). */
  readonly pgPreparedStatements: boolean;
  readonly dataDir: string;
  readonly redisUrl: string | undefined;
  readonly redisPrefix: string;
  readonly keysDir: string;
  /** HMAC key for client-secret digests; when unset, a file in keysDir. */
  readonly clientSecretKey: string | undefined;
  /** The MFA master key (AUTHD_MFA_KEY); otherwise keys/mfa.key. */
  readonly mfaKey: string | undefined;
  /** The issuer name authenticator apps show (AUTHD_BRAND_NAME). */
  readonly mfaIssuerName: string;
  readonly accessTokenTtl: number;
  readonly refreshIdleTtl: number;
  readonly refreshAbsoluteTtl: number;
  readonly refreshReuseGrace: number;
  readonly jwksMaxAge: number;
  readonly keyRingRefresh: number;
  readonly argon2: { readonly memoryKiB: number; readonly timeCost: number; readonly parallelism: number };
  readonly argon2Capacity: { readonly concurrency: number; readonly maxQueue: number; readonly maxWaitMs: number };
  readonly loginThrottle: {
    readonly userIpFailures: number;
    readonly ipFailures: number;
    readonly userFailures: number;
    readonly windowMs: number;
    readonly lockoutBaseMs: number;
    readonly lockoutMaxMs: number;
  };
  readonly corsOrigins: readonly string[];
  readonly metrics: { readonly port: number; readonly host: string } | undefined;
  readonly shutdownTimeoutMs: number;
  /** SIGTERM: how long /health/ready answers 503 while requests are still served, before the listener closes. */
  readonly shutdownDelayMs: number;
  /** How long client records are cached for client authentication (0: not at all). */
  readonly clientCacheTtlMs: number;
  /** HTTP worker processes (node:cluster); more than one needs PostgreSQL. */
  readonly workers: number;
  readonly registration: boolean;
  readonly adminScope: string;
  readonly hostedPages:
    | {
        readonly clientId: string;
        readonly brandName: string;
        readonly brandColor: string;
        readonly logoUrl: string | undefined;
      }
    | undefined;
  /** Cookies may drop `Secure` only when the issuer is plain-http localhost (development). */
  readonly secureCookies: boolean;
  readonly devBootstrap: boolean;
  readonly logLevel: string;
  readonly trustProxy: TrustProxy;
  /**
   * Where mail goes: SMTP when AUTHD_SMTP_URL is set; otherwise, outside production, .eml files
   * under the data directory; in production without SMTP, nowhere (the mail features are off).
   */
  readonly mail:
    | { readonly transport: 'smtp'; readonly url: string; readonly from: string }
    | { readonly transport: 'files'; readonly dir: string; readonly from: string }
    | undefined;
  /** Password logins of users without a verified email address are refused. */
  readonly requireVerifiedEmail: boolean;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.join('\n'));
    this.name = 'ConfigError';
  }
}

const UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };

/** Durations are whole seconds ("900") or a number with a unit ("15m", "14d"). */
export function parseDuration(value: string): number | undefined {
  const match = /^(\d{1,9})([smhd]?)$/.exec(value.trim());
  if (!match) return undefined;
  return Number(match[1]) * UNITS[match[2] || 's'];
}

const duration = (min: number) =>
  z.string().transform((value, ctx) => {
    const seconds = parseDuration(value);
    if (seconds === undefined) {
      ctx.addIssue({ code: 'custom', message: `expected a duration such as 900, 15m, 12h or 14d, got "${value}"` });
      return z.NEVER;
    }
    if (seconds < min) {
      ctx.addIssue({ code: 'custom', message: `must be at least ${min} seconds, got "${value}"` });
      return z.NEVER;
    }
    return seconds;
  });

const integer = (min: number, max: number) =>
  z
    .string()
    .regex(/^\d+$/, 'expected a whole number')
    .transform(Number)
    .pipe(z.number().min(min, `must be at least ${min}`).max(max, `must be at most ${max}`));

const flag = z
  .enum(['true', 'false', '1', '0', 'yes', 'no', 'on', 'off'], 'expected true or false')
  .transform((v) => ['true', '1', 'yes', 'on'].includes(v));

const url = (protocols: string[]) =>
  z.string().refine(
    (value) => {
      try {
        return protocols.includes(new URL(value).protocol);
      } catch {
        return false;
      }
    },
    `expected a URL starting with ${protocols.map((p) => p + '//').join(' or ')}`,
  );

const schema = z.object({
  HOST: z.string().min(1).default('127.0.0.1'),
  PORT: integer(0, 65535).default(3000),
  AUTHD_ISSUER: url(['http:', 'https:'])
    .refine((v) => !v.includes('?') && !v.includes('#'), 'must have no query or fragment (RFC 8414 §2)')
    .optional(),
  DATABASE_URL: url(['postgres:', 'postgresql:']).optional(),
  AUTHD_DATA_DIR: z.string().min(1).default('data'),
  REDIS_URL: z
    .string()
    .refine((v) => {
      try {
        parseRedisUrl(v);
        return true;
      } catch {
        return false;
      }
    }, 'expected redis://host:port[/db], redis+sentinel://host:port,…/master or redis+cluster://host:port,… (rediss… for TLS)')
    .optional(),
  AUTHD_REDIS_PREFIX: z
    .string()
    .regex(/^[\w:.-]{0,64}$/, 'letters, digits and :._- only')
    .default('authd:'),
  AUTHD_KEYS_DIR: z.string().min(1).default('keys'),
  AUTHD_CLIENT_SECRET_KEY: z.string().min(32, 'must be at least 32 characters').optional(),
  AUTHD_MFA_KEY: z.string().min(32, 'must be at least 32 characters').optional(),
  AUTHD_ACCESS_TOKEN_TTL: duration(5).default(900),
  AUTHD_REFRESH_IDLE_TTL: duration(60).default(14 * 86400),
  AUTHD_REFRESH_ABSOLUTE_TTL: duration(60).default(30 * 86400),
  AUTHD_REFRESH_REUSE_GRACE: duration(0).default(10),
  AUTHD_JWKS_MAX_AGE: duration(0).default(600),
  AUTHD_KEY_RING_REFRESH: duration(1).default(60),
  AUTHD_ARGON2_MEMORY_KIB: integer(8192, 4 * 1024 * 1024).default(19456),
  AUTHD_ARGON2_TIME_COST: integer(1, 100).default(2),
  AUTHD_ARGON2_PARALLELISM: integer(1, 64).default(1),
  AUTHD_ARGON2_MEMORY_BUDGET_MIB: integer(16, 1024 * 1024).default(256),
  AUTHD_ARGON2_MAX_CONCURRENCY: integer(1, 1024).optional(),
  AUTHD_ARGON2_QUEUE_TIMEOUT_MS: integer(0, 60_000).default(500),
  AUTHD_LOGIN_MAX_FAILURES: integer(1, 1000).default(5),
  AUTHD_LOGIN_MAX_FAILURES_PER_IP: integer(1, 1_000_000).default(100),
  AUTHD_LOGIN_MAX_FAILURES_PER_USER: integer(1, 1_000_000).default(10),
  AUTHD_LOGIN_FAILURE_WINDOW: duration(1).default(15 * 60),
  AUTHD_LOGIN_LOCKOUT: duration(1).default(60),
  AUTHD_LOGIN_LOCKOUT_MAX: duration(1).default(3600),
  AUTHD_CORS_ORIGINS: z
    .string()
    .transform((v) =>
      v
        .split(',')
        .map((o) => o.trim())
        .filter(Boolean),
    )
    .refine(
      (origins) => origins.every((o) => /^https?:\/\/[^/\s]+$/.test(o)),
      'expected a comma-separated list of origins like https://app.example.com',
    )
    .default([]),
  AUTHD_METRICS_PORT: integer(0, 65535).default(9464),
  AUTHD_METRICS_HOST: z.string().min(1).default('127.0.0.1'),
  AUTHD_SHUTDOWN_TIMEOUT: duration(1).default(10),
  AUTHD_SHUTDOWN_DELAY: duration(0).default(0),
  AUTHD_CLIENT_CACHE_TTL: duration(0).default(5),
  AUTHD_PG_PREPARED_STATEMENTS: flag.default(false),
  AUTHD_WORKERS: z.union([z.literal('auto'), integer(1, 256)]).default(1),
  AUTHD_REGISTRATION: flag.default(false),
  AUTHD_ADMIN_SCOPE: z
    .string()
    .regex(/^[\x21\x23-\x5B\x5D-\x7E]{1,128}$/, 'expected one scope name')
    .default('authd:admin'),
  AUTHD_HOSTED_PAGES: flag.default(true),
  AUTHD_HOSTED_PAGES_CLIENT_ID: z
    .string()
    .regex(/^[\w.:-]{3,64}$/, 'expected 3 to 64 letters, digits or _.:-')
    .default('authd-pages'),
  AUTHD_BRAND_NAME: z.string().min(1).max(60).default('authd'),
  AUTHD_BRAND_COLOR: z
    .string()
    .regex(/^#[0-9a-fA-F]{6}$/, 'expected a colour like #1f6feb')
    .default('#1f6feb'),
  AUTHD_BRAND_LOGO_URL: url(['https:', 'http:']).optional(),
  AUTHD_DEV_BOOTSTRAP: flag.optional(),
  AUTHD_LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  AUTHD_TRUST_PROXY: z
    .string()
    .transform((value, ctx) => {
      const parsed = parseTrustProxy(value);
      if ('trust' in parsed) return parsed.trust;
      ctx.addIssue({ code: 'custom', message: parsed.problem });
      return z.NEVER;
    })
    .optional(),
  AUTHD_STRICT_ENV: flag.optional(),
  AUTHD_SMTP_URL: url(['smtp:', 'smtps:']).optional(),
  AUTHD_MAIL_FROM: z
    .string()
    .max(320)
    .regex(
      /^[^\r\n]*[^\s@<>]+@[^\s@<>]+>?$/,
      'expected an address, optionally with a name: "Example <no-reply@example.com>"',
    )
    .optional(),
  AUTHD_REQUIRE_VERIFIED_EMAIL: flag.default(false),
  NODE_ENV: z.string().optional(),
});

type Env = Record<string, string | undefined>;

/** Edit distance, to name the setting a misspelled variable probably meant. */
function distance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++)
      current[j] = Math.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    previous = current;
  }
  return previous[b.length];
}

/**
 * One line per AUTHD_* variable that is no setting of authd: a misspelled one is otherwise
 * silently ignored (AUTHD_ACCES_TOKEN_TTL=5m leaves the 15-minute default in force).
 */
export function unknownVariables(env: Env): string[] {
  const known = Object.keys(schema.shape).filter((name) => name.startsWith('AUTHD_'));
  return Object.keys(env)
    .filter((name) => name.startsWith('AUTHD_') && !known.includes(name))
    .sort()
    .map((name) => {
      const [closest] = known.map((k) => [k, distance(name, k)] as const).sort((x, y) => x[1] - y[1]);
      const guess =
        closest && closest[1] <= Math.max(3, Math.floor(name.length / 4))
          ? `did you mean ${closest[0]}?`
          : 'see the Configuration table in the README';
      return `${name}: not a setting of authd (${guess})`;
    });
}

function isLocalDevelopment(issuer: string): boolean {
  const url = new URL(issuer);
  return url.protocol === 'http:' && ['localhost', '127.0.0.1', '[::1]'].includes(url.hostname);
}

function mailSettings(e: z.infer<typeof schema>, issuer: string, dataDir: string): Config['mail'] {
  const from =
    e.AUTHD_MAIL_FROM ?? `"${e.AUTHD_BRAND_NAME.replace(/["\\]/g, '')}" <no-reply@${new URL(issuer).hostname}>`;
  if (e.AUTHD_SMTP_URL) return Object.freeze({ transport: 'smtp' as const, url: e.AUTHD_SMTP_URL, from });
  if (e.NODE_ENV === 'production') return undefined;
  return Object.freeze({ transport: 'files' as const, dir: path.join(dataDir, 'outbox'), from });
}

/** Reads the environment into a Config, or throws a ConfigError listing every problem, one line each. */
export function parseConfig(env: Env, cwd = process.cwd()): Config {
  const present = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = schema.safeParse(present);
  if (!parsed.success) {
    throw new ConfigError(parsed.error.issues.map((issue) => `${String(issue.path[0])}: ${issue.message}`));
  }
  const e = parsed.data;
  const problems: string[] = [];
  if (e.AUTHD_REFRESH_ABSOLUTE_TTL < e.AUTHD_REFRESH_IDLE_TTL) {
    problems.push('AUTHD_REFRESH_ABSOLUTE_TTL: must be at least AUTHD_REFRESH_IDLE_TTL');
  }
  if (e.AUTHD_LOGIN_LOCKOUT_MAX < e.AUTHD_LOGIN_LOCKOUT)
    problems.push('AUTHD_LOGIN_LOCKOUT_MAX: must be at least AUTHD_LOGIN_LOCKOUT');
  const budgetSlots = Math.floor(
    (e.AUTHD_ARGON2_MEMORY_BUDGET_MIB * 1024) / (e.AUTHD_ARGON2_MEMORY_KIB * e.AUTHD_ARGON2_PARALLELISM),
  );
  if (budgetSlots < 1)
    problems.push('AUTHD_ARGON2_MEMORY_BUDGET_MIB: too small for even one hash at AUTHD_ARGON2_MEMORY_KIB');
  const workers =
    e.AUTHD_WORKERS === 'auto' ? autoWorkerCount(os.availableParallelism(), e.DATABASE_URL) : e.AUTHD_WORKERS;
  if (workers > 1 && !e.DATABASE_URL)
    problems.push(
      'AUTHD_WORKERS: more than one worker needs DATABASE_URL (the embedded database belongs to one process)',
    );
  // In production a misspelled setting stops the start; elsewhere the CLI warns (AUTHD_STRICT_ENV decides).
  if (e.AUTHD_STRICT_ENV ?? e.NODE_ENV === 'production') problems.push(...unknownVariables(env));
  if (problems.length) throw new ConfigError(problems);
  // Memory caps the number of parallel hashes; so do the cores (more would only queue in libuv).
  const concurrency = Math.min(budgetSlots, e.AUTHD_ARGON2_MAX_CONCURRENCY ?? os.availableParallelism());

  const isDevelopment = (e.NODE_ENV ?? 'development') === 'development';
  const issuer = (e.AUTHD_ISSUER ?? `http://localhost:${e.PORT}`).replace(/\/+$/, '');
  return Object.freeze({
    host: e.HOST,
    port: e.PORT,
    issuer,
    databaseUrl: e.DATABASE_URL,
    pgPreparedStatements: e.AUTHD_PG_PREPARED_STATEMENTS,
    dataDir: path.resolve(cwd, e.AUTHD_DATA_DIR),
    redisUrl: e.REDIS_URL,
    redisPrefix: e.AUTHD_REDIS_PREFIX,
    keysDir: path.resolve(cwd, e.AUTHD_KEYS_DIR),
    clientSecretKey: e.AUTHD_CLIENT_SECRET_KEY,
    mfaKey: e.AUTHD_MFA_KEY,
    mfaIssuerName: e.AUTHD_BRAND_NAME,
    accessTokenTtl: e.AUTHD_ACCESS_TOKEN_TTL,
    refreshIdleTtl: e.AUTHD_REFRESH_IDLE_TTL,
    refreshAbsoluteTtl: e.AUTHD_REFRESH_ABSOLUTE_TTL,
    refreshReuseGrace: e.AUTHD_REFRESH_REUSE_GRACE,
    jwksMaxAge: e.AUTHD_JWKS_MAX_AGE,
    keyRingRefresh: e.AUTHD_KEY_RING_REFRESH,
    argon2: Object.freeze({
      memoryKiB: e.AUTHD_ARGON2_MEMORY_KIB,
      timeCost: e.AUTHD_ARGON2_TIME_COST,
      parallelism: e.AUTHD_ARGON2_PARALLELISM,
    }),
    argon2Capacity: Object.freeze({
      concurrency,
      maxQueue: concurrency * 16,
      maxWaitMs: e.AUTHD_ARGON2_QUEUE_TIMEOUT_MS,
    }),
    loginThrottle: Object.freeze({
      userIpFailures: e.AUTHD_LOGIN_MAX_FAILURES,
      ipFailures: e.AUTHD_LOGIN_MAX_FAILURES_PER_IP,
      userFailures: e.AUTHD_LOGIN_MAX_FAILURES_PER_USER,
      windowMs: e.AUTHD_LOGIN_FAILURE_WINDOW * 1000,
      lockoutBaseMs: e.AUTHD_LOGIN_LOCKOUT * 1000,
      lockoutMaxMs: e.AUTHD_LOGIN_LOCKOUT_MAX * 1000,
    }),
    corsOrigins: Object.freeze(e.AUTHD_CORS_ORIGINS),
    metrics:
      e.AUTHD_METRICS_PORT === 0
        ? undefined
        : Object.freeze({ port: e.AUTHD_METRICS_PORT, host: e.AUTHD_METRICS_HOST }),
    shutdownTimeoutMs: e.AUTHD_SHUTDOWN_TIMEOUT * 1000,
    shutdownDelayMs: e.AUTHD_SHUTDOWN_DELAY * 1000,
    workers,
    clientCacheTtlMs: e.AUTHD_CLIENT_CACHE_TTL * 1000,
    registration: e.AUTHD_REGISTRATION,
    adminScope: e.AUTHD_ADMIN_SCOPE,
    hostedPages: e.AUTHD_HOSTED_PAGES
      ? Object.freeze({
          clientId: e.AUTHD_HOSTED_PAGES_CLIENT_ID,
          brandName: e.AUTHD_BRAND_NAME,
          brandColor: e.AUTHD_BRAND_COLOR,
          logoUrl: e.AUTHD_BRAND_LOGO_URL,
        })
      : undefined,
    secureCookies: !isLocalDevelopment(issuer),
    // Demo client and user are created only on the embedded database in development.
    devBootstrap: e.AUTHD_DEV_BOOTSTRAP ?? (isDevelopment && !e.DATABASE_URL),
    logLevel: e.AUTHD_LOG_LEVEL,
    trustProxy: e.AUTHD_TRUST_PROXY ?? false,
    mail: mailSettings(e, issuer, path.resolve(cwd, e.AUTHD_DATA_DIR)),
    requireVerifiedEmail: e.AUTHD_REQUIRE_VERIFIED_EMAIL,
  });
}
