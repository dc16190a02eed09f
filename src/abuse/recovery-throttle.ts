import crypto from 'node:crypto';
import type { Clock } from '../clock';
import { clientAddress } from './client-address';
import { retryAfter } from './login-throttle';
import type { WindowCounter } from './window-counter';

/**
 * Requests that send mail to an account (password reset, a new verification link), counted per
 * client address and per account name before anything else happens. The account key is the name
 * as typed (lower-cased, hashed), whether or not such an account exists: the limit then says
 * nothing about existence, and one mailbox gets at most `perAccount` messages a window.
 */
export interface RecoveryLimits {
  perAddress: number;
  perAccount: number;
  windowMs: number;
}

export const DEFAULT_RECOVERY_LIMITS: RecoveryLimits = { perAddress: 20, perAccount: 3, windowMs: 15 * 60_000 };

export type RecoveryDecision =
  | { allowed: true }
  | { allowed: false; reason: 'address' | 'account'; retryAfterSeconds: number };

export interface RecoveryThrottle {
  admit(ip: string, account: string): Promise<RecoveryDecision>;
}

export function createRecoveryThrottle(
  counter: WindowCounter,
  clock: Clock,
  purpose: string,
  limits = DEFAULT_RECOVERY_LIMITS,
): RecoveryThrottle {
  const accountKey = (account: string) =>
    crypto.createHash('sha256').update(account.normalize('NFKC').trim().toLowerCase()).digest('base64url').slice(0, 22);
  return {
    async admit(ip, account) {
      const [byAddress, byAccount] = await Promise.all([
        counter.hit(`${purpose}:ip:${clientAddress(ip)}`, limits.windowMs),
        counter.hit(`${purpose}:acct:${accountKey(account)}`, limits.windowMs),
      ]);
      const now = clock.now();
      if (byAddress.n > limits.perAddress)
        return { allowed: false, reason: 'address', retryAfterSeconds: retryAfter(byAddress.windowEndsAt - now) };
      if (byAccount.n > limits.perAccount)
        return { allowed: false, reason: 'account', retryAfterSeconds: retryAfter(byAccount.windowEndsAt - now) };
      return { allowed: true };
    },
  };
}
