import type { Clock } from '../clock';
import type { Database } from '../store/database';
import type { RedisConnection } from '../store/redis';
import { clientAddress } from './client-address';
import { retryAfter } from './login-throttle';
import { createDatabaseWindowCounter, createRedisWindowCounter, type WindowCounter } from './window-counter';

/**
 * Self-registrations per client address (IPv4 address, IPv6 /64), counted before any password
 * is hashed, so one address cannot spend the hashing capacity on new accounts.
 */
export interface RegistrationLimits {
  perAddress: number;
  windowMs: number;
}

const DEFAULT_REGISTRATION_LIMITS: RegistrationLimits = { perAddress: 10, windowMs: 3600_000 };

export type RegistrationDecision = { allowed: true } | { allowed: false; retryAfterSeconds: number };

export interface RegistrationThrottle {
  /** Counts one registration attempt from ip, atomically; refused past the limit in the window. */
  admit(ip: string): Promise<RegistrationDecision>;
}

function createRegistrationThrottle(
  counter: WindowCounter,
  clock: Clock,
  limits: RegistrationLimits,
): RegistrationThrottle {
  return {
    async admit(ip) {
      const { n, windowEndsAt } = await counter.hit(`reg:${clientAddress(ip)}`, limits.windowMs);
      return n <= limits.perAddress
        ? { allowed: true }
        : { allowed: false, retryAfterSeconds: retryAfter(windowEndsAt - clock.now()) };
    },
  };
}

/** On the database (the login_throttle table, keys reg:<address>). */
export function createDatabaseRegistrationThrottle(
  db: Database,
  clock: Clock,
  limits = DEFAULT_REGISTRATION_LIMITS,
): RegistrationThrottle {
  return createRegistrationThrottle(createDatabaseWindowCounter(db, clock), clock, limits);
}

export function createRedisRegistrationThrottle(
  connection: RedisConnection,
  clock: Clock,
  limits = DEFAULT_REGISTRATION_LIMITS,
): RegistrationThrottle {
  return createRegistrationThrottle(createRedisWindowCounter(connection, clock), clock, limits);
}
