import path from 'node:path';
import { ConfigError, parseConfig, parseDuration, unknownVariables } from '../src/config';

/** The problems of the ConfigError that parseConfig throws for env, or a failure when it does not throw. */
function problemsOf(env: Record<string, string | undefined>): string[] {
  try {
    parseConfig(env, '/srv/authd');
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).problems;
  }
  throw new Error(`parseConfig accepted ${JSON.stringify(env)}`);
}

describe('parseDuration', () => {
  it.each([
    ['900', 900],
    ['0', 0],
    ['30s', 30],
    ['15m', 900],
    ['12h', 43_200],
    ['14d', 14 * 86_400],
    [' 15m ', 900],
  ])('reads %j as %d seconds', (value, seconds) => {
    expect(parseDuration(value)).toBe(seconds);
  });

  it.each(['', 'soon', '15 m', '1.5h', '-5', '15M', '10w', 'm', '1234567890'])('refuses %j', (value) => {
    expect(parseDuration(value)).toBeUndefined();
  });
});

describe('parseConfig', () => {
  it('has safe defaults for an empty environment', () => {
    const config = parseConfig({}, '/srv/authd');
    expect(config).toEqual({
      host: '127.0.0.1',
      port: 3000,
      issuer: 'http://localhost:3000',
      databaseUrl: undefined,
      dataDir: path.resolve('/srv/authd', 'data'),
      redisUrl: undefined,
      redisPrefix: 'authd:',
      keysDir: path.resolve('/srv/authd', 'keys'),
      clientSecretKey: undefined,
      mfaKey: undefined,
      mfaIssuerName: 'authd',
      accessTokenTtl: 900,
      refreshIdleTtl: 14 * 86_400,
      refreshAbsoluteTtl: 30 * 86_400,
      refreshReuseGrace: 10,
      jwksMaxAge: 600,
      keyRingRefresh: 60,
      argon2: { memoryKiB: 19_456, timeCost: 2, parallelism: 1 },
      argon2Capacity: { concurrency: expect.any(Number), maxQueue: expect.any(Number), maxWaitMs: 500 },
      loginThrottle: {
        userIpFailures: 5,
        ipFailures: 100,
        userFailures: 10,
        windowMs: 15 * 60_000,
        lockoutBaseMs: 60_000,
        lockoutMaxMs: 3_600_000,
      },
      corsOrigins: [],
      metrics: { port: 9464, host: '127.0.0.1' },
      shutdownTimeoutMs: 10_000,
      shutdownDelayMs: 0,
      registration: false,
      adminScope: 'authd:admin',
      hostedPages: { clientId: 'authd-pages', brandName: 'authd', brandColor: '#1f6feb', logoUrl: undefined },
      // Plain-http localhost is the one issuer whose cookies may drop Secure.
      secureCookies: false,
      // NODE_ENV unset means development; no DATABASE_URL means the embedded database.
      devBootstrap: true,
      logLevel: 'info',
      trustProxy: false,
      workers: 1,
      clientCacheTtlMs: 5_000,
      // No SMTP outside production: mail goes to .eml files in the data directory.
      mail: { transport: 'files', dir: '/srv/authd/data/outbox', from: '"authd" <no-reply@localhost>' },
      requireVerifiedEmail: false,
      pgPreparedStatements: false,
    });
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.argon2)).toBe(true);
  });

  it('bounds Argon2 concurrency by the memory budget (256 MiB at 19 MiB each is 13 hashes)', () => {
    const config = parseConfig({ AUTHD_ARGON2_MAX_CONCURRENCY: '1024' });
    expect(config.argon2Capacity).toEqual({ concurrency: 13, maxQueue: 13 * 16, maxWaitMs: 500 });
  });

  it('treats an empty variable as unset', () => {
    const config = parseConfig({ PORT: '', AUTHD_ACCESS_TOKEN_TTL: '', DATABASE_URL: '', AUTHD_ISSUER: '' });
    expect({
      port: config.port,
      accessTokenTtl: config.accessTokenTtl,
      databaseUrl: config.databaseUrl,
      issuer: config.issuer,
    }).toEqual({ port: 3000, accessTokenTtl: 900, databaseUrl: undefined, issuer: 'http://localhost:3000' });
  });

  it.each([
    ['AUTHD_ACCESS_TOKEN_TTL', '15m', 'accessTokenTtl', 900],
    ['AUTHD_ACCESS_TOKEN_TTL', '900', 'accessTokenTtl', 900],
    ['AUTHD_ACCESS_TOKEN_TTL', '1h', 'accessTokenTtl', 3600],
    ['AUTHD_REFRESH_IDLE_TTL', '14d', 'refreshIdleTtl', 14 * 86_400],
    ['AUTHD_REFRESH_IDLE_TTL', '3600', 'refreshIdleTtl', 3600],
    ['AUTHD_REFRESH_ABSOLUTE_TTL', '90d', 'refreshAbsoluteTtl', 90 * 86_400],
    ['AUTHD_REFRESH_REUSE_GRACE', '0', 'refreshReuseGrace', 0],
    ['AUTHD_REFRESH_REUSE_GRACE', '30s', 'refreshReuseGrace', 30],
    ['AUTHD_JWKS_MAX_AGE', '5m', 'jwksMaxAge', 300],
    ['AUTHD_KEY_RING_REFRESH', '10', 'keyRingRefresh', 10],
  ] as const)('reads %s=%j as a duration', (name, value, key, expected) => {
    expect(parseConfig({ [name]: value })[key]).toBe(expected);
  });

  it('reads the other settings', () => {
    const config = parseConfig(
      {
        HOST: '0.0.0.0',
        PORT: '8080',
        AUTHD_ISSUER: 'https://auth.example.com/',
        DATABASE_URL: 'postgresql://authd@db:5432/authd',
        REDIS_URL: 'redis://cache:6379/2',
        AUTHD_REGISTRATION: 'yes',
        AUTHD_ARGON2_MEMORY_KIB: '65536',
        AUTHD_ARGON2_TIME_COST: '3',
        AUTHD_ARGON2_PARALLELISM: '2',
        AUTHD_CORS_ORIGINS: 'https://a.example.com, https://b.example.com',
        AUTHD_METRICS_PORT: '0',
        NODE_ENV: 'production',
      },
      '/srv/authd',
    );
    expect({
      host: config.host,
      port: config.port,
      issuer: config.issuer,
      databaseUrl: config.databaseUrl,
      redisUrl: config.redisUrl,
      registration: config.registration,
      argon2: config.argon2,
      corsOrigins: config.corsOrigins,
      metrics: config.metrics,
      devBootstrap: config.devBootstrap,
    }).toEqual({
      host: '0.0.0.0',
      port: 8080,
      issuer: 'https://auth.example.com', // the trailing slash is dropped
      databaseUrl: 'postgresql://authd@db:5432/authd',
      redisUrl: 'redis://cache:6379/2',
      registration: true,
      argon2: { memoryKiB: 65_536, timeCost: 3, parallelism: 2 },
      corsOrigins: ['https://a.example.com', 'https://b.example.com'],
      metrics: undefined,
      devBootstrap: false,
    });
  });

  it.each([
    ['http://localhost:3000', false],
    ['http://127.0.0.1:8080', false],
    ['https://localhost:3000', true],
    ['http://authd.internal', true],
    ['https://auth.example.com', true],
  ])('secureCookies for the issuer %s is %s', (issuer, expected) => {
    expect(parseConfig({ AUTHD_ISSUER: issuer }).secureCookies).toBe(expected);
  });

  it('derives the default issuer from PORT', () => {
    expect(parseConfig({ PORT: '4000' }).issuer).toBe('http://localhost:4000');
  });

  it('resolves the data and keys directories against the working directory', () => {
    const config = parseConfig({ AUTHD_DATA_DIR: 'var/db', AUTHD_KEYS_DIR: '/etc/authd/keys' }, '/srv/authd');
    expect({ dataDir: config.dataDir, keysDir: config.keysDir }).toEqual({
      dataDir: path.resolve('/srv/authd/var/db'),
      keysDir: '/etc/authd/keys',
    });
  });

  it.each([
    ['PORT', 'abc'],
    ['PORT', '65536'],
    ['PORT', '-1'],
    ['AUTHD_ACCESS_TOKEN_TTL', 'soon'],
    ['AUTHD_ACCESS_TOKEN_TTL', '4'], // below the 5-second minimum
    ['AUTHD_REFRESH_IDLE_TTL', '1.5d'],
    ['AUTHD_REFRESH_ABSOLUTE_TTL', 'forever'],
    ['AUTHD_REFRESH_REUSE_GRACE', '-1'],
    ['AUTHD_JWKS_MAX_AGE', '10 minutes'],
    ['AUTHD_KEY_RING_REFRESH', '0'],
    ['DATABASE_URL', 'mysql://x'],
    ['DATABASE_URL', 'not a url'],
    ['REDIS_URL', 'http://cache:6379'],
    ['REDIS_URL', 'redis+sentinel://a:26379'], // no master name
    ['AUTHD_ISSUER', 'https://auth.example.com/?tenant=1'],
    ['AUTHD_ISSUER', 'https://auth.example.com/#top'],
    ['AUTHD_ISSUER', 'ftp://auth.example.com'],
    ['AUTHD_ISSUER', 'auth.example.com'],
    ['AUTHD_ARGON2_MEMORY_KIB', '10'],
    ['AUTHD_ARGON2_MEMORY_KIB', 'lots'],
    ['AUTHD_ARGON2_TIME_COST', '0'],
    ['AUTHD_ARGON2_PARALLELISM', '65'],
    ['AUTHD_CLIENT_SECRET_KEY', 'too-short'],
    ['AUTHD_REDIS_PREFIX', 'has spaces'],
    ['AUTHD_REGISTRATION', 'maybe'],
    ['AUTHD_LOG_LEVEL', 'verbose'],
    ['AUTHD_CORS_ORIGINS', 'https://app.example.com/path'],
    ['AUTHD_CORS_ORIGINS', '*'],
  ])('refuses %s=%j with a problem naming the variable', (name, value) => {
    const problems = problemsOf({ [name]: value });
    expect(problems).toEqual([expect.stringMatching(new RegExp(`^${name}: \\S`))]);
  });

  it('reports every problem at once, one line each', () => {
    let caught: unknown;
    try {
      parseConfig({
        PORT: 'abc',
        AUTHD_ACCESS_TOKEN_TTL: 'soon',
        DATABASE_URL: 'mysql://x',
        AUTHD_ISSUER: 'https://a.example/?q=1',
        AUTHD_ARGON2_MEMORY_KIB: '10',
      });
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    const { problems, message, name } = caught as ConfigError;
    expect(name).toBe('ConfigError');
    expect([...problems].sort()).toEqual([
      expect.stringMatching(/^AUTHD_ACCESS_TOKEN_TTL: expected a duration .*"soon"/),
      expect.stringMatching(/^AUTHD_ARGON2_MEMORY_KIB: must be at least 8192/),
      expect.stringMatching(/^AUTHD_ISSUER: must have no query or fragment/),
      expect.stringMatching(/^DATABASE_URL: expected a URL starting with postgres:\/\/ or postgresql:\/\//),
      expect.stringMatching(/^PORT: expected a whole number/),
    ]);
    expect(message).toBe(problems.join('\n'));
  });

  it('refuses AUTHD_TRUST_PROXY=true with one line saying what to give instead', () => {
    for (const value of ['true', 'TRUE', 'yes']) {
      expect(problemsOf({ AUTHD_TRUST_PROXY: value })).toEqual([
        expect.stringMatching(
          /^AUTHD_TRUST_PROXY: true would let every client choose its IP .*number of proxies.*CIDRs/,
        ),
      ]);
    }
  });

  it.each([
    ['1', 1],
    ['2', 2],
    ['0', false],
    ['false', false],
    ['10.0.0.5', ['10.0.0.5']],
    ['10.0.0.5, 10.1.0.0/16,fd00::/8', ['10.0.0.5', '10.1.0.0/16', 'fd00::/8']],
    ['loopback,uniquelocal', ['loopback', 'uniquelocal']],
  ])('reads AUTHD_TRUST_PROXY=%j as %j', (value, trust) => {
    expect(parseConfig({ AUTHD_TRUST_PROXY: value }).trustProxy).toEqual(trust);
  });

  it.each(['10.0.0.0/33', 'proxy.internal', '10.0.0.1/8/8', '*', ',', '::1/129'])(
    'refuses AUTHD_TRUST_PROXY=%j',
    (value) => {
      expect(problemsOf({ AUTHD_TRUST_PROXY: value })).toEqual([
        expect.stringMatching(/^AUTHD_TRUST_PROXY: expected a hop count or a comma-separated list/),
      ]);
    },
  );

  it('refuses an absolute refresh lifetime shorter than the idle one', () => {
    expect(problemsOf({ AUTHD_REFRESH_IDLE_TTL: '14d', AUTHD_REFRESH_ABSOLUTE_TTL: '7d' })).toEqual([
      'AUTHD_REFRESH_ABSOLUTE_TTL: must be at least AUTHD_REFRESH_IDLE_TTL',
    ]);
    // The default idle lifetime (14 d) counts too.
    expect(problemsOf({ AUTHD_REFRESH_ABSOLUTE_TTL: '13d' })).toEqual([
      'AUTHD_REFRESH_ABSOLUTE_TTL: must be at least AUTHD_REFRESH_IDLE_TTL',
    ]);
    // Equal is fine.
    expect(parseConfig({ AUTHD_REFRESH_IDLE_TTL: '7d', AUTHD_REFRESH_ABSOLUTE_TTL: '7d' }).refreshAbsoluteTtl).toBe(
      7 * 86_400,
    );
  });

  it('refuses a lockout maximum shorter than the base lockout', () => {
    expect(problemsOf({ AUTHD_LOGIN_LOCKOUT: '10m', AUTHD_LOGIN_LOCKOUT_MAX: '5m' })).toEqual([
      'AUTHD_LOGIN_LOCKOUT_MAX: must be at least AUTHD_LOGIN_LOCKOUT',
    ]);
  });

  it('refuses more than one worker on the embedded database', () => {
    expect(problemsOf({ AUTHD_WORKERS: '2' })).toEqual([expect.stringMatching(/^AUTHD_WORKERS: .*DATABASE_URL/)]);
    expect(parseConfig({ AUTHD_WORKERS: '2', DATABASE_URL: 'postgres://db/authd' }).workers).toBe(2);
  });

  it('refuses a memory budget too small for one hash', () => {
    expect(problemsOf({ AUTHD_ARGON2_MEMORY_KIB: '65536', AUTHD_ARGON2_MEMORY_BUDGET_MIB: '16' })).toEqual([
      expect.stringMatching(/^AUTHD_ARGON2_MEMORY_BUDGET_MIB: /),
    ]);
  });

  it.each([
    [{}, true],
    [{ NODE_ENV: 'development' }, true],
    [{ NODE_ENV: 'development', DATABASE_URL: 'postgres://db/authd' }, false],
    [{ DATABASE_URL: 'postgres://db/authd' }, false],
    [{ NODE_ENV: 'production' }, false],
    [{ NODE_ENV: 'test' }, false],
    [{ NODE_ENV: 'production', AUTHD_DEV_BOOTSTRAP: 'true' }, true],
    [{ NODE_ENV: 'development', AUTHD_DEV_BOOTSTRAP: 'false' }, false],
  ])('devBootstrap for %j is %s', (env, expected) => {
    expect(parseConfig(env).devBootstrap).toBe(expected);
  });

  it.each([
    ['true', true],
    ['1', true],
    ['yes', true],
    ['on', true],
    ['false', false],
    ['0', false],
    ['no', false],
    ['off', false],
  ])('reads AUTHD_REGISTRATION=%s as %s', (value, expected) => {
    expect(parseConfig({ AUTHD_REGISTRATION: value }).registration).toBe(expected);
  });
});

describe('unknown AUTHD_* variables', () => {
  it('names each one with the closest known setting, and ignores other variables', () => {
    expect(
      unknownVariables({
        AUTHD_ACCES_TOKEN_TTL: '5m',
        AUTHD_ISSUER: 'https://a.test',
        AUTHD_FROBNICATE_EVERYTHING: '1',
        HOME: '/root',
        PORT: '1',
      }),
    ).toEqual([
      'AUTHD_ACCES_TOKEN_TTL: not a setting of authd (did you mean AUTHD_ACCESS_TOKEN_TTL?)',
      'AUTHD_FROBNICATE_EVERYTHING: not a setting of authd (see the Configuration table in the README)',
    ]);
    expect(unknownVariables({ AUTHD_LOG_LEVEL: 'warn', AUTHD_STRICT_ENV: 'true' })).toEqual([]);
  });

  it('only warns outside production: the start goes on', () => {
    expect(parseConfig({ AUTHD_ACCES_TOKEN_TTL: '5m' }).accessTokenTtl).toBe(900);
    expect(
      parseConfig({ AUTHD_ACCES_TOKEN_TTL: '5m', NODE_ENV: 'production', AUTHD_STRICT_ENV: 'false' }).accessTokenTtl,
    ).toBe(900);
  });

  it('stops the start in production, or anywhere with AUTHD_STRICT_ENV=true', () => {
    const problem = 'AUTHD_ACCES_TOKEN_TTL: not a setting of authd (did you mean AUTHD_ACCESS_TOKEN_TTL?)';
    expect(problemsOf({ AUTHD_ACCES_TOKEN_TTL: '5m', NODE_ENV: 'production' })).toEqual([problem]);
    expect(problemsOf({ AUTHD_ACCES_TOKEN_TTL: '5m', AUTHD_STRICT_ENV: 'true' })).toEqual([problem]);
  });
});
