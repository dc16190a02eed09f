import { ACCOUNT_TOKEN_TTL_MS, type AccountTokens } from '../users/account-tokens';
import { normalizeEmail } from '../users/email';
import type { UserStore, UserWithHash } from '../users/user-store';
import { normalizeUsername } from '../users/username';
import type { OutboxEntry } from './outbox';
import { renderMail, type MailBranding } from './templates';
import type { MailMessage } from './transport';

/** A message to send, or why there is none (the entry is done either way). */
export type Composed = { message: MailMessage; userId: string } | { skipped: string; userId: string | null };

export interface AccountMailDeps {
  users: UserStore;
  tokens: AccountTokens;
  /** Gives the entry to its first account and queues the same mail for the others (Outbox.split). */
  split: (entryId: string, userId: string, others: string[]) => Promise<void>;
  issuer: string;
  brand: MailBranding;
}

/**
 * The accounts a form's "username or email" names: the one with that username and the one with
 * that address. They can differ (a username may look like an address, even another person's), and
 * then each gets its own mail: taking only one would let a look-alike username keep the owner of
 * the address from ever getting a link.
 */
export async function findAccounts(users: UserStore, identifier: string): Promise<UserWithHash[]> {
  const byName = await users.findByNormalizedUsername(normalizeUsername(identifier)).catch(() => undefined);
  let byEmail: UserWithHash | undefined;
  try {
    byEmail = await users.findByNormalizedEmail(normalizeEmail(identifier).normalized);
  } catch {
    // not an address
  }
  return [byName, byEmail].filter(
    (u, i, all): u is UserWithHash => u !== undefined && all.findIndex((o) => o?.id === u.id) === i,
  );
}

const MINUTES = (ms: number) => Math.round(ms / 60_000);

/** How the password changed (the entry's `via`), as the notice says it. */
const PASSWORD_CHANGED_HOW: Record<string, string> = {
  reset: 'was just reset, and every session of the account was signed out.',
  account: 'was just changed from the account page, and every other session of the account was signed out.',
  admin: 'was just set by an administrator, and every session of the account was signed out.',
};

/**
 * Turns an outbox entry into a message, minting the link's token only now, off the request path:
 * whether the account exists is decided here, where nobody is waiting for the answer. A retry
 * mints a new token, which replaces the one in the message that was never delivered.
 */
export function createAccountMail(deps: AccountMailDeps) {
  const { users, tokens, issuer, brand } = deps;

  async function resolve(entry: OutboxEntry): Promise<UserWithHash | undefined> {
    if (entry.userId) return users.findById(entry.userId);
    const identifier = entry.payload.identifier;
    if (typeof identifier !== 'string') return undefined;
    const [first, ...others] = await findAccounts(users, identifier);
    if (first && others.length)
      await deps.split(
        entry.id,
        first.id,
        others.map((u) => u.id),
      );
    return first;
  }

  function emailChangedNotice(user: UserWithHash, previous: unknown): Composed {
    if (typeof previous !== 'string') return { skipped: 'no_email', userId: user.id };
    // Not the new address: whoever reads the old mailbox may no longer be the account's owner.
    return {
      userId: user.id,
      message: renderMail(
        previous,
        {
          subject: `The email address of your ${brand.brandName} account was changed`,
          heading: 'Your email address was changed',
          paragraphs: [
            `The email address of the account "${user.username}" was changed, or removed: this address no longer receives its mail, password resets included.`,
          ],
          footer: 'If this was not you, tell your administrator at once: password resets now go to another address.',
        },
        brand,
      ),
    };
  }

  return async function compose(entry: OutboxEntry): Promise<Composed> {
    const user = await resolve(entry);
    if (!user) return { skipped: 'no_account', userId: null };
    if (user.disabledAt) return { skipped: 'user_disabled', userId: user.id };
    // Goes to the address the user had: the account may have none now.
    if (entry.kind === 'email_changed') return emailChangedNotice(user, entry.payload.previous);
    if (!user.email) return { skipped: 'no_email', userId: user.id };

    switch (entry.kind) {
      case 'password_reset': {
        const issued = await tokens.issue(user.id, 'password_reset');
        if (!issued) return { skipped: 'no_email', userId: user.id };
        return {
          userId: user.id,
          message: renderMail(
            issued.email,
            {
              subject: `Reset your ${brand.brandName} password`,
              heading: 'Reset your password',
              paragraphs: [
                `Someone (hopefully you) asked to reset the password of the account "${user.username}".`,
                `The link works once, for ${MINUTES(ACCOUNT_TOKEN_TTL_MS.password_reset)} minutes. Asking again makes this link stop working.`,
              ],
              action: { label: 'Choose a new password', url: `${issuer}/reset#token=${issued.token}` },
              footer: 'If you did not ask for this, ignore this mail: your password stays as it is.',
            },
            brand,
          ),
        };
      }
      case 'email_verification': {
        if (user.emailVerified) return { skipped: 'already_verified', userId: user.id };
        const issued = await tokens.issue(user.id, 'email_verification');
        if (!issued) return { skipped: 'no_email', userId: user.id };
        return {
          userId: user.id,
          message: renderMail(
            issued.email,
            {
              subject: `Confirm your email address for ${brand.brandName}`,
              heading: 'Confirm your email address',
              paragraphs: [
                `Confirm that ${issued.email} is the address of the account "${user.username}".`,
                'The link works once, for 24 hours.',
              ],
              action: { label: 'Confirm this address', url: `${issuer}/verify-email#token=${issued.token}` },
              footer: 'If you did not create this account or change its address, ignore this mail.',
            },
            brand,
          ),
        };
      }
      case 'mfa_disabled':
        return {
          userId: user.id,
          message: renderMail(
            user.email,
            {
              subject: `Two-step verification was turned off for your ${brand.brandName} account`,
              heading: 'Two-step verification is off',
              paragraphs: [
                `Two-step verification of the account "${user.username}" was ${entry.payload.by === 'admin' ? 'reset by an administrator' : 'turned off'}: signing in now needs only the password, and the recovery codes no longer work.`,
              ],
              action: { label: 'Open your account', url: `${issuer}/account` },
              footer:
                'If this was not you, change your password, turn two-step verification on again and tell your administrator.',
            },
            brand,
          ),
        };
      case 'password_changed':
        return {
          userId: user.id,
          message: renderMail(
            user.email,
            {
              subject: `Your ${brand.brandName} password was changed`,
              heading: 'Your password was changed',
              paragraphs: [
                `The password of the account "${user.username}" ${PASSWORD_CHANGED_HOW[String(entry.payload.via)] ?? PASSWORD_CHANGED_HOW.reset}`,
              ],
              action: { label: 'Sign in', url: `${issuer}/login` },
              footer: 'If this was not you, reset your password now and tell your administrator.',
            },
            brand,
          ),
        };
    }
  };
}

export type ComposeMail = ReturnType<typeof createAccountMail>;
