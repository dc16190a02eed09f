import { CLOCK_SKEW_SECONDS } from '@authd/verifier';
import { createDeviceNotes, type DeviceNotes } from './abuse/device-notes';
import type { LoginThrottle } from './abuse/login-throttle';
import { createDatabaseLoginThrottle } from './abuse/database-login-throttle';
import { createRedisLoginThrottle } from './abuse/redis-login-throttle';
import {
  createDatabaseRegistrationThrottle,
  createRedisRegistrationThrottle,
  type RegistrationThrottle,
} from './abuse/registration-throttle';
import { createAuditLog, type AuditLog } from './audit/audit-log';
import { systemClock, type Clock } from './clock';
import type { Config } from './config';
import { createClientRepository } from './clients/client-repository';
import type { ClientStore } from './clients/client-store';
import { createClientSecretDigester, type ClientSecretDigester } from './clients/client-secret';
import { ownApi } from './clients/authd-clients';
import { createClientCache, type ClientCache } from './clients/client-cache';
import { createClientService, type ClientService } from './clients/client-service';
import { createLogger, type Logger } from './logger';
import { createMetrics, type Metrics } from './metrics';
import { createMfaRepository } from './mfa/mfa-repository';
import { createMfaService, type MfaService } from './mfa/mfa-service';
import { deriveMfaKeys } from './mfa/secret-box';
import type { ReadinessCheck } from './readiness';
import type { Lifetimes } from './oauth/grants/grant';
import { createDatabaseRevocationStore } from './revocation/database-revocation-store';
import { createRedisRevocationStore } from './revocation/redis-revocation-store';
import type { RevocationStore } from './revocation/revocation-store';
import { createSessionRepository } from './sessions/session-repository';
import type { SessionStore } from './sessions/session-store';
import { createSessionRevoker, type SessionRevoker } from './sessions/session-revoker';
import type { Database } from './store/database';
import { createEmbeddedDatabase } from './store/embedded';
import { migrate } from './store/migrate';
import { createPostgresDatabase } from './store/postgres';
import { readinessCause } from './store/connection-errors';
import { closeRedis, connectRedis, lastRedisError, type RedisConnection } from './store/redis';
import { loadOrCreateClientSecretKey, loadOrCreateMfaKey } from './tokens/key-files';
import { ensureSigningKey, type KeyManagementOptions } from './tokens/key-management';
import { createKeyManager, type KeyManager } from './tokens/key-manager';
import { createKeyRepository } from './tokens/key-repository';
import { createKeyRing, type KeyRing } from './tokens/key-ring';
import { createTokenIssuer, type TokenIssuer } from './tokens/token-issuer';
import { createConcurrencyLimiter, type PrioritizedLimiter } from './users/hash-limiter';
import { createPasswordHasher } from './users/password-hasher';
import { createUserRepository } from './users/user-repository';
import type { UserStore } from './users/user-store';
import { createUserImporter, type UserImporter } from './users/user-import';
import { createUserService, type UserService } from './users/user-service';
import { createRecoveryThrottle, type RecoveryThrottle } from './abuse/recovery-throttle';
import { createDatabaseWindowCounter, createRedisWindowCounter } from './abuse/window-counter';
import { createMail, type Mail } from './mail/mail';
import { createAccountRecovery, type AccountRecovery } from './users/account-recovery';
import { createAccountTokens } from './users/account-tokens';

export interface Services {
  config: Config;
  clock: Clock;
  logger: Logger;
  db: Database;
  redis: RedisConnection | undefined;
  ring: KeyRing;
  /** Rotate, retire, revoke: each reloads this instance's ring before it returns. */
  keys: KeyManager;
  /** What the key life-cycle functions run on (tests and the key manager). */
  keyManagement: KeyManagementOptions;
  digester: ClientSecretDigester;
  clients: ClientStore;
  /** Client records kept a few seconds (client authentication, authd's own APIs). */
  clientCache: ClientCache;
  clientService: ClientService;
  userRepository: UserStore;
  users: UserService;
  userImporter: UserImporter;
  /** The user service self-registration uses: its hashes run in the registration lane. */
  registrationUsers: UserService;
  registrationThrottle: RegistrationThrottle;
  /** TOTP authenticators, recovery codes and the second step of password sign-ins. */
  mfa: MfaService;
  sessions: SessionStore;
  revocations: RevocationStore;
  revoker: SessionRevoker;
  tokens: TokenIssuer;
  /** The server-wide token lifetimes (a client may only shorten them). */
  lifetimes: Lifetimes;
  audit: AuditLog;
  metrics: Metrics;
  limiter: PrioritizedLimiter;
  throttle: LoginThrottle;
  /** Signs and checks the notes that mark a browser as a known device (the login throttle). */
  deviceNotes: DeviceNotes;
  readinessChecks: ReadinessCheck[];
  /** Undefined when mail is off (production without SMTP); then so are reset and verification. */
  mail: Mail | undefined;
  recovery: AccountRecovery | undefined;
  recoveryThrottles: { passwordReset: RecoveryThrottle; verification: RecoveryThrottle };
  close(): Promise<void>;
}

export interface OpenOptions {
  clock?: Clock;
  logger?: Logger;
  /** An already open database (tests); otherwise DATABASE_URL or the embedded data directory. */
  db?: Database;
  /** Start the key ring's background reload (the server does; one-shot CLI commands do not). */
  background?: boolean;
}

export function openDatabase(config: Config): Promise<Database> {
  return config.databaseUrl
    ? Promise.resolve(
        createPostgresDatabase({
          connectionString: config.databaseUrl,
          preparedStatements: config.pgPreparedStatements,
        }),
      )
    : createEmbeddedDatabase(config.dataDir);
}

/** Everything authd runs on, wired once: stores, key ring, domain services. */
export async function openServices(config: Config, options: OpenOptions = {}): Promise<Services> {
  const clock = options.clock ?? systemClock;
  const logger = options.logger ?? createLogger(config.logLevel);
  // Redis first: it is the quicker to fail, and a wrong REDIS_URL need not wait for the database.
  const redis = config.redisUrl ? await connectRedis(config.redisUrl, config.redisPrefix) : undefined;
  let db: Database;
  try {
    db = options.db ?? (await openDatabase(config));
  } catch (error) {
    if (redis) closeRedis(redis);
    throw error;
  }
  try {
    await migrate(db);

    const metrics = createMetrics();
    const audit = createAuditLog({ db, clock, logger, onEvent: metrics.onAuditEvent });
    metrics.watchAudit(audit);
    const revocations = redis
      ? createRedisRevocationStore({ redis, db, clock, logger })
      : createDatabaseRevocationStore(db, clock);
    const keyManagement: KeyManagementOptions = {
      db,
      audit,
      revocations,
      keysDir: config.keysDir,
      clock,
      // Retired keys verify and stay published while any token they signed can be alive, plus the
      // rule set's skew (the most a kit accepts past exp).
      maxTokenLifetimeMs: (Math.max(config.refreshAbsoluteTtl, config.accessTokenTtl) + CLOCK_SKEW_SECONDS) * 1000,
      standbyMs: (config.jwksMaxAge + config.keyRingRefresh) * 1000,
    };
    await ensureSigningKey(keyManagement);
    const ring = await createKeyRing({
      repository: createKeyRepository(db),
      keysDir: config.keysDir,
      clock,
      maxTokenLifetimeMs: keyManagement.maxTokenLifetimeMs,
      refreshIntervalMs: config.keyRingRefresh * 1000,
      onError: (error) => logger.warn({ err: error }, 'key ring reload failed'),
    });
    if (options.background) ring.start();

    const limiter = createConcurrencyLimiter(config.argon2Capacity);
    metrics.watchLimiter(limiter);
    const throttle = redis
      ? createRedisLoginThrottle(redis, config.loginThrottle, clock, config.redisPrefix)
      : createDatabaseLoginThrottle(db, config.loginThrottle, clock);

    const serverKey = await loadOrCreateClientSecretKey(config.keysDir, config.clientSecretKey);
    const digester = createClientSecretDigester(serverKey);
    const deviceNotes = createDeviceNotes(serverKey, clock);
    const clients = createClientRepository(db);
    const sessions = createSessionRepository(db);
    const revoker = createSessionRevoker({ sessions, revocations, clock, maxAccessTokenTtl: config.accessTokenTtl });
    const userRepository = createUserRepository(db);
    // Self-registration (and the anonymous password reset) gets a quarter of the hashing slots (at
    // least one) and waits behind logins, so a flood of either can never take the capacity logins need.
    const registrationShare = Math.max(1, Math.floor(config.argon2Capacity.concurrency / 4));
    const registrationLane = limiter.lane({ concurrency: registrationShare, maxQueue: registrationShare * 4 });
    const registrationHasher = createPasswordHasher(config.argon2, registrationLane);
    const accountTokens = createAccountTokens(db, clock);
    const mail = createMail(config, { db, clock, logger, audit, users: userRepository, tokens: accountTokens });
    const recovery =
      mail &&
      createAccountRecovery({
        tokens: accountTokens,
        hasher: registrationHasher,
        audit,
        queueMail: mail.queue,
        revokeUser: revoker.revokeUser,
      });
    const windowCounter = redis ? createRedisWindowCounter(redis, clock) : createDatabaseWindowCounter(db, clock);
    const recoveryThrottles = {
      passwordReset: createRecoveryThrottle(windowCounter, clock, 'reset'),
      verification: createRecoveryThrottle(windowCounter, clock, 'verify'),
    };
    const userDeps = {
      users: userRepository,
      clock,
      audit,
      onCredentialsChanged: async (userId: string, reason: string) => {
        await revoker.revokeUser(userId, reason);
      },
      onPrivilegesReduced: (userId: string) => revoker.revokeUserAccessTokens(userId),
      ...(recovery && {
        onEmailUnverified: recovery.verificationNeeded,
        onEmailChanged: recovery.emailChanged,
        onPasswordChanged: recovery.passwordChanged,
      }),
    };
    const users = createUserService({ ...userDeps, hasher: createPasswordHasher(config.argon2, limiter) });
    const registrationUsers = createUserService({ ...userDeps, hasher: registrationHasher });
    const registrationThrottle = redis
      ? createRedisRegistrationThrottle(redis, clock)
      : createDatabaseRegistrationThrottle(db, clock);
    const userImporter = createUserImporter({ db, clock, onCredentialsChanged: userDeps.onCredentialsChanged });
    const tokens = createTokenIssuer({ ring, issuer: config.issuer, clock });
    const mfa = createMfaService({
      repository: createMfaRepository(db),
      keys: deriveMfaKeys(await loadOrCreateMfaKey(config.keysDir, config.mfaKey)),
      clock,
      audit,
      issuerName: config.mfaIssuerName,
      ...(recovery && { onRemoved: recovery.secondFactorRemoved }),
    });
    const lifetimes: Lifetimes = {
      accessTokenTtl: config.accessTokenTtl,
      refreshIdleTtl: config.refreshIdleTtl,
      refreshAbsoluteTtl: config.refreshAbsoluteTtl,
      refreshReuseGrace: config.refreshReuseGrace,
    };
    const clientCache = createClientCache(clients, clock, config.clientCacheTtlMs);

    const readinessChecks: ReadinessCheck[] = [
      { name: 'database', check: () => db.ping(), explain: (error) => readinessCause(error, 'postgres') },
      { name: 'keys', check: () => void ring.signingKey() },
      ...(redis
        ? [
            {
              name: 'redis',
              check: () => revocations.ping(),
              explain: (error: unknown) => readinessCause(lastRedisError(redis) ?? error, 'redis'),
            },
          ]
        : []),
      { name: 'audit', check: () => audit.checkBacklog(), degradesOnly: true },
    ];

    return {
      config,
      clock,
      logger,
      db,
      redis,
      ring,
      keys: createKeyManager(keyManagement, ring),
      keyManagement,
      digester,
      clients,
      clientCache,
      clientService: createClientService({
        clients,
        digester,
        clock,
        limits: lifetimes,
        ownApi: ownApi(config.issuer, config.adminScope),
        audit,
        revokeClientSessions: async (clientId) => void (await revoker.revokeClient(clientId, 'client_deleted')),
        onChanged: (clientId) => clientCache.invalidate(clientId),
      }),
      userRepository,
      users,
      userImporter,
      registrationUsers,
      registrationThrottle,
      mfa,
      sessions,
      revocations,
      revoker,
      tokens,
      lifetimes,
      readinessChecks,
      audit,
      metrics,
      limiter,
      throttle,
      deviceNotes,
      mail,
      recovery,
      recoveryThrottles,
      async close() {
        ring.stop();
        await mail?.close();
        await audit.close();
        await revocations.close();
        if (redis) closeRedis(redis);
        if (!options.db) await db.close();
      },
    };
  } catch (error) {
    if (redis) closeRedis(redis);
    if (!options.db) await db.close().catch(() => {});
    throw error;
  }
}
