import { Router, type Request, type Response } from 'express';
import type { RecoveryThrottle } from '../abuse/recovery-throttle';
import type { AuditLog } from '../audit/audit-log';
import { invalidGrant, invalidRequest, OAuthError } from '../errors';
import type { AccountRecovery } from '../users/account-recovery';
import { clientIp } from './request-context';
import { readParams } from './params';
import { noStore } from './no-store';

export interface AccountRecoveryDeps {
  recovery: AccountRecovery;
  throttles: { passwordReset: RecoveryThrottle; verification: RecoveryThrottle };
  audit: AuditLog;
}

export const RESET_ACCEPTED = {
  message:
    'If an account with this username or email address exists and has an email address, a link to reset its password is on its way.',
};
export const VERIFICATION_ACCEPTED = {
  message:
    'If an account with this username or email address exists and its address is not yet verified, a new verification link is on its way.',
};
const INVALID_LINK = 'The link is invalid, has expired or was already used; ask for a new one.';
const IDENTIFIER_MAX = 512;

/** "username" or "email" (either names the account; the worker looks it up). */
function identifierOf(req: Request): { identifier: string; params: Record<string, string> } {
  const params = readParams(req);
  const identifier = (params.username ?? params.email)?.trim();
  if (!identifier) throw invalidRequest('The username (or email) parameter is missing.');
  if (identifier.length > IDENTIFIER_MAX) throw invalidRequest('The username (or email) parameter is too long.');
  // No username or address has one (and PostgreSQL refuses a NUL in the outbox's jsonb): the same
  // refusal for everyone, before the throttle, as for a name that is too long.
  if (/\p{C}/u.test(identifier))
    throw invalidRequest('The username (or email) parameter must not contain control characters.');
  return { identifier, params };
}

async function admit(throttle: RecoveryThrottle, req: Request, identifier: string, audit: AuditLog): Promise<void> {
  const decision = await throttle.admit(clientIp(req) ?? 'unknown', identifier);
  if (decision.allowed) return;
  audit.record({
    type: 'recovery_throttled',
    details: { path: req.path, reason: decision.reason, retry_after: decision.retryAfterSeconds },
  });
  throw new OAuthError(
    'temporarily_unavailable',
    `Too many requests; try again in ${decision.retryAfterSeconds} seconds.`,
    {
      status: 429,
      headers: { 'Retry-After': String(decision.retryAfterSeconds) },
      detail: `recovery_limit_${decision.reason}`,
    },
  );
}

function tokenOf(params: Record<string, string>): string {
  const token = params.token;
  if (!token) throw invalidRequest('The token parameter is missing.');
  // 32 random bytes, base64url: anything else cannot be a token and costs no lookup.
  if (!/^[\w-]{43}$/.test(token)) throw invalidGrant(INVALID_LINK, { detail: 'malformed token' });
  return token;
}

/**
 * The anonymous account endpoints a mail links to: password reset and email verification.
 * Requests answer 202 with one fixed body whatever the account, after one INSERT into the
 * outbox: the lookup, the token and the mail happen in the mail worker.
 */
export function accountRecoveryRouter(deps: AccountRecoveryDeps): Router {
  const router = Router();
  const accepted = (res: Response, body: object) => res.status(202).json(body);

  router.post('/account/password-reset', noStore, async (req, res) => {
    const { identifier } = identifierOf(req);
    await admit(deps.throttles.passwordReset, req, identifier, deps.audit);
    await deps.recovery.requestPasswordReset(identifier);
    accepted(res, RESET_ACCEPTED);
  });

  router.post('/account/password-reset/confirm', noStore, async (req, res) => {
    const params = readParams(req);
    const token = tokenOf(params);
    const password = params.new_password ?? params.password;
    if (!password) throw invalidRequest('The new_password parameter is missing.');
    if (!(await deps.recovery.confirmPasswordReset(token, password)))
      throw invalidGrant(INVALID_LINK, { detail: 'reset token not valid' });
    res.json({ message: 'The password was changed and every session was signed out. Sign in with the new password.' });
  });

  router.post('/account/email-verification', noStore, async (req, res) => {
    const { identifier } = identifierOf(req);
    await admit(deps.throttles.verification, req, identifier, deps.audit);
    await deps.recovery.requestVerification(identifier);
    accepted(res, VERIFICATION_ACCEPTED);
  });

  router.post('/account/email-verification/confirm', noStore, async (req, res) => {
    const token = tokenOf(readParams(req));
    if (!(await deps.recovery.confirmVerification(token)))
      throw invalidGrant(INVALID_LINK, { detail: 'verification token not valid' });
    res.json({ email_verified: true, message: 'Your email address is verified.' });
  });

  return router;
}
