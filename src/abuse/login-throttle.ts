import crypto from 'node:crypto';
import net from 'node:net';

/**
 * Brute-force protection for password logins. An attempt is counted *before* the password is
 * checked, atomically, so parallel guesses cannot slip past a limit (the lesson of Zitadel's
 * GHSA-7h8m-vrxx-vr4m). Three counters:
 *   user+IP  after `userIpFailures` failures that user's logins from that IP are refused for a
 *            delay that doubles with every further failure (lockoutBase … lockoutMax);
 *   IP       a ceiling across usernames (credential stuffing from one address);
 *   user     a ceiling across addresses (a distributed guess at one account).
 * A success clears the user+IP counter and gives back its attempt on the other two.
 */
export interface ThrottleLimits {
  userIpFailures: number;
  ipFailures: number;
  userFailures: number;
  windowMs: number;
  lockoutBaseMs: number;
  lockoutMaxMs: number;
}

export type ThrottleDecision =
  /** `lockSetAt`: this attempt armed the user+IP lock (the limit-th attempt); release undoes it. */
  | { allowed: true; lockSetAt?: number }
  | { allowed: false; retryAfterSeconds: number; reason: 'user_ip_locked' | 'ip_limit' | 'user_limit' };

export interface LoginThrottle {
  begin(username: string, ip: string): Promise<ThrottleDecision>;
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
  /** Prefix of every user+IP key of this user, for unlock. */
  userIpPrefix: string;
}

/**
 * The address a client is counted under: IPv4 as is (also when mapped into IPv6), IPv6 by its
 * /64 prefix, since one host or subscriber usually holds a whole /64 and could rotate through it.
 */
export function clientAddress(ip: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (mapped) return mapped[1];
  if (!net.isIPv6(ip)) return ip.slice(0, 64);
  const [head, tail = ''] = ip.split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups = ip.includes('::') ? [...left, ...Array(8 - left.length - right.length).fill('0'), ...right] : left;
  return `${groups.slice(0, 4).map((g) => parseInt(g || '0', 16).toString(16)).join(':')}::/64`;
}

/** Keys hold a digest of the username, so key length and characters are bounded. */
export function throttleKeys(normalizedUsername: string, ip: string): ThrottleKeys {
  const user = crypto.createHash('sha256').update(normalizedUsername).digest('base64url').slice(0, 22);
  const address = clientAddress(ip);
  return { userIp: `ui:${user}:${address}`, user: `u:${user}`, ip: `ip:${address}`, userIpPrefix: `ui:${user}:` };
}

/** The lock after the n-th counted failure (n ≥ limit): base, then doubling, capped. */
export function lockoutMs(n: number, limits: ThrottleLimits): number {
  const doublings = Math.min(n - limits.userIpFailures, 30);
  return Math.min(limits.lockoutBaseMs * 2 ** doublings, limits.lockoutMaxMs);
}

export const retryAfter = (ms: number) => Math.max(1, Math.ceil(ms / 1000));
