import crypto from 'node:crypto';
import { clientAddress } from './client-address';

/**
 * Brute-force protection for password logins. An attempt is counted *before* the password is
 * checked, atomically, so parallel guesses cannot slip past a limit (the lesson of Zitadel's
 * GHSA-7h8m-vrxx-vr4m). Three counters:
 *   user+IP  after `userIpFailures` failures that user's logins from that IP are refused for a
 *            delay that doubles with every further failure (lockoutBase … lockoutMax);
 *   IP       a ceiling across usernames (credential stuffing from one address);
 *   user     a ceiling on the number of distinct networks with failures for one account (a
 *            distributed guess). Past it, no new network is admitted (those already counted go on
 *            under their user+IP lock), but the owner's known places still get in: a network
 *            the user has logged in from before, or a device that carries a signed device cookie.
 *            So guessing from fresh addresses is refused while the owner is not locked out.
 * A success clears the user+IP counter, gives back its attempt on the IP counter and its network
 * on the user counter, and remembers the network as known for `KNOWN_NETWORK_TTL_MS`.
 */
export const KNOWN_NETWORK_TTL_MS = 90 * 86_400_000;

export interface ThrottleLimits {
  userIpFailures: number;
  ipFailures: number;
  userFailures: number;
  windowMs: number;
  lockoutBaseMs: number;
  lockoutMaxMs: number;
}

export type ThrottleDecision =
  /**
   * `lockSetAt`: this attempt armed the user+IP lock (the limit-th attempt); `newNetwork`: it
   * added its network to the user counter. release() undoes both.
   */
  | { allowed: true; lockSetAt?: number; newNetwork?: true }
  | { allowed: false; retryAfterSeconds: number; reason: 'user_ip_locked' | 'ip_limit' | 'user_limit' };

export interface AttemptOptions {
  /** The request carries a valid device cookie for this user (it logged in from this browser before). */
  trustedDevice?: boolean;
}

export interface LoginThrottle {
  begin(username: string, ip: string, options?: AttemptOptions): Promise<ThrottleDecision>;
  succeeded(username: string, ip: string): Promise<void>;
  /**
   * Gives back an attempt whose password could not be checked at all (hashing at capacity, the
   * database down): it was neither a success nor a failure.
   */
  release(username: string, ip: string, decision: ThrottleDecision): Promise<void>;
  /** Clears every counter and lock of a user (authd users unlock). */
  unlock(username: string): Promise<void>;
}

export interface ThrottleKeys {
  userIp: string;
  user: string;
  ip: string;
  /** Present while the user has logged in from this address within KNOWN_NETWORK_TTL_MS. */
  known: string;
  /** Prefix of every user+IP key of this user, for unlock. */
  userIpPrefix: string;
}

/** Keys hold a digest of the username, so key length and characters are bounded. */
export function throttleKeys(normalizedUsername: string, ip: string): ThrottleKeys {
  const user = crypto.createHash('sha256').update(normalizedUsername).digest('base64url').slice(0, 22);
  const address = clientAddress(ip);
  return {
    userIp: `ui:${user}:${address}`,
    user: `u:${user}`,
    ip: `ip:${address}`,
    known: `kn:${user}:${address}`,
    userIpPrefix: `ui:${user}:`,
  };
}

/** The lock after the n-th counted failure (n ≥ limit): base, then doubling, capped. */
export function lockoutMs(n: number, limits: ThrottleLimits): number {
  const doublings = Math.min(n - limits.userIpFailures, 30);
  return Math.min(limits.lockoutBaseMs * 2 ** doublings, limits.lockoutMaxMs);
}

export const retryAfter = (ms: number) => Math.max(1, Math.ceil(ms / 1000));
