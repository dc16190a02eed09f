import { Router, type Response } from 'express';
import { z } from 'zod';
import { checkThrottled } from '../abuse/login-attempt';
import type { LoginThrottle } from '../abuse/login-throttle';
import type { AuditLog } from '../audit/audit-log';
import { ACCOUNT_SCOPE } from '../clients/authd-clients';
import type { Clock } from '../clock';
import type { MfaService } from '../mfa/mfa-service';
import { DomainError, OAuthError } from '../errors';
import type { SessionStore } from '../sessions/session-store';
import type { SessionRevoker } from '../sessions/session-revoker';
import { normalizeEmail } from '../users/email';
import { assertPasswordPolicy, WrongPasswordError, type UserService } from '../users/user-service';
import { presentSession, presentUser } from './presenters';
import { bearerAuth, verifiedToken, type BearerAuthDeps } from './bearer-auth';
import { accountMfaRouter, attempter, isWrongSecret } from './account-mfa';
import { clientIp } from './request-context';
import { readJson } from './json-body';

export interface AccountDeps extends BearerAuthDeps {
  users: UserService;
  sessions: SessionStore;
  revoker: SessionRevoker;
  throttle: LoginThrottle;
  audit: AuditLog;
  clock: Clock;
  mfa: MfaService;
}

/** The user behind the request's token; machine tokens (client_credentials) have none. */
async function currentUser(res: Response, users: UserService) {
  const token = verifiedToken(res);
  // A client_credentials token speaks for its client, whatever its id looks like.
  if (token.sub === token.client_id)
    throw new OAuthError('access_denied', 'This token does not belong to a user.', { status: 403 });
  try {
    return await users.requireUser({ id: token.sub });
  } catch (error) {
    if (error instanceof DomainError && error.kind === 'not_found') {
      throw new OAuthError('access_denied', 'This token does not belong to a user.', { status: 403 });
    }
    throw error;
  }
}

/** /account: the token's own user — profile, password, sessions, sign-out. */
export function accountRouter(deps: AccountDeps): Router {
  const router = Router();
  router.use('/account', bearerAuth(deps, ACCOUNT_SCOPE));

  router.get('/account', async (_req, res) => {
    res.json(presentUser(await currentUser(res, deps.users)));
  });

  // A changed address is unverified until the link mailed to it is followed. Resets go to the
  // address, so changing it needs the password (throttled like a login): a stolen access token
  // alone must not be able to point the account's resets at another mailbox.
  router.put('/account/email', async (req, res) => {
    const body = readJson(
      req,
      z.object({ email: z.string().max(320).nullable(), current_password: z.string().max(1024) }).strict(),
    );
    if (body.email !== null) normalizeEmail(body.email); // a mistyped address costs no attempt
    const user = await currentUser(res, deps.users);
    await checkThrottled(
      deps.throttle,
      attempter(req, user),
      () => deps.users.confirmPassword(user.id, body.current_password),
      isWrongSecret,
    );
    res.json(presentUser(await deps.users.setEmail({ id: user.id }, body.email)));
  });

  // Needs the current password (throttled like a login); revokes every other session.
  router.post('/account/password', async (req, res) => {
    const body = readJson(
      req,
      z.object({ current_password: z.string().max(1024), new_password: z.string().max(1024) }).strict(),
    );
    const user = await currentUser(res, deps.users);
    assertPasswordPolicy(body.new_password); // a weak new password is no failed attempt
    // Only a wrong current password counts against the user; anything else gives the attempt back.
    await checkThrottled(
      deps.throttle,
      { username: user.usernameNormalized, ip: clientIp(req) },
      () => deps.users.changePassword(user.id, body.current_password, body.new_password),
      (error) => error instanceof WrongPasswordError,
    );
    const revoked = await deps.revoker.revokeOtherSessions(user.id, verifiedToken(res).sid ?? null, 'password_changed');
    res.json({ revoked_sessions: revoked.length });
  });

  router.get('/account/sessions', async (_req, res) => {
    const user = await currentUser(res, deps.users);
    const sessions = await deps.sessions.listForUser(user.id, new Date(deps.clock.now()));
    res.json({ sessions: sessions.map((s) => presentSession(s, verifiedToken(res).sid ?? '')) });
  });

  router.delete('/account/sessions/:id', async (req, res) => {
    const user = await currentUser(res, deps.users);
    const sessions = await deps.sessions.listForUser(user.id, new Date(deps.clock.now()));
    if (!sessions.some((s) => s.id === req.params.id))
      throw new DomainError('not_found', 'No such session.', 'session_not_found');
    await deps.revoker.revokeSession(req.params.id, 'revoked_by_user');
    deps.audit.record({
      type: 'session_revoked',
      userId: user.id,
      details: { sid: req.params.id, reason: 'revoked_by_user' },
    });
    res.status(204).end();
  });

  // Signs out everywhere, this session included.
  router.post('/account/logout-all', async (_req, res) => {
    const user = await currentUser(res, deps.users);
    const ids = await deps.revoker.revokeUser(user.id, 'signed_out_everywhere');
    deps.audit.record({
      type: 'user_sessions_revoked',
      userId: user.id,
      details: { sessions: ids.length, by: 'user' },
    });
    res.json({ revoked_sessions: ids.length });
  });

  router.use(
    accountMfaRouter({
      users: deps.users,
      mfa: deps.mfa,
      throttle: deps.throttle,
      currentUser: (res) => currentUser(res, deps.users),
    }),
  );
  return router;
}
