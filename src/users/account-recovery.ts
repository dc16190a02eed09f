import type { AuditLog } from '../audit/audit-log';
import { DomainError } from '../errors';
import type { AccountTokens } from './account-tokens';
import type { PasswordHasher } from './password-hasher';
import { checkPasswordPolicy } from './password-policy';

/** Queues a message (src/mail/outbox.ts); the kinds the recovery flows send. */
export type QueueMail = (
  kind: 'password_reset' | 'email_verification' | 'password_changed' | 'email_changed' | 'mfa_disabled',
  entry: { userId?: string; payload?: Record<string, unknown> },
) => Promise<void>;

export interface AccountRecoveryDeps {
  tokens: AccountTokens;
  hasher: PasswordHasher;
  audit: AuditLog;
  queueMail: QueueMail;
  /** Ends every session and every access token issued so far (the user's "not before"). */
  revokeUser: (userId: string, reason: string) => Promise<unknown>;
}

/**
 * Self-service password reset and email verification, and the notices of account changes. The
 * request side only queues: which account a form named, and whether it has an address, is found
 * out by the mail worker, so the answer to the request is the same work, and the same bytes, for
 * every input.
 */
export function createAccountRecovery(deps: AccountRecoveryDeps) {
  return {
    requestPasswordReset: (identifier: string) => deps.queueMail('password_reset', { payload: { identifier } }),

    requestVerification: (identifier: string) => deps.queueMail('email_verification', { payload: { identifier } }),

    /** Queued after an address was set or changed and is not yet verified. */
    verificationNeeded: (userId: string) => deps.queueMail('email_verification', { userId }),

    /**
     * Queued after an address was replaced or removed: the previous address is told, so an owner
     * whose account was pointed at another mailbox hears of it where they still read mail.
     */
    emailChanged: (userId: string, previousEmail: string) =>
      deps.queueMail('email_changed', { userId, payload: { previous: previousEmail } }),

    /** Notices of a credential change the owner should hear of even when it was not them. */
    passwordChanged: (userId: string, via: 'account' | 'admin') =>
      deps.queueMail('password_changed', { userId, payload: { via } }),
    secondFactorRemoved: (userId: string, by: 'user' | 'admin') =>
      deps.queueMail('mfa_disabled', { userId, payload: { by } }),

    /**
     * Sets the new password if the link is still valid. A weak password is refused before the link
     * is looked at (it stays usable); an invalid link costs no hashing. Returns false for a link
     * that is unknown, expired, used, replaced by a newer one, or outdated by a password change.
     */
    async confirmPasswordReset(token: string, newPassword: string): Promise<boolean> {
      const problem = checkPasswordPolicy(newPassword);
      if (problem) throw new DomainError('invalid', problem);
      if (!(await deps.tokens.peek(token, 'password_reset'))) return false;
      const hash = await deps.hasher.hash(newPassword);
      // The consumption decides: of two confirms with one token, exactly one gets a user id back.
      const userId = await deps.tokens.consume(token, 'password_reset', hash);
      if (!userId) return false;
      await deps.revokeUser(userId, 'password_reset');
      deps.audit.record({ type: 'user_password_reset', userId, details: { sessions_revoked: true } });
      await deps.queueMail('password_changed', { userId, payload: { via: 'reset' } });
      return true;
    },

    async confirmVerification(token: string): Promise<boolean> {
      const userId = await deps.tokens.consume(token, 'email_verification');
      if (!userId) return false;
      deps.audit.record({ type: 'user_email_verified', userId });
      return true;
    },
  };
}

export type AccountRecovery = ReturnType<typeof createAccountRecovery>;
