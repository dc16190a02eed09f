import { Router, type Request, type Response } from 'express';
import { renderSVG } from 'uqr';
import { z } from 'zod';
import { checkThrottled } from '../abuse/login-attempt';
import type { LoginThrottle } from '../abuse/login-throttle';
import { DomainError, OAuthError } from '../errors';
import type { MfaService } from '../mfa/mfa-service';
import { WrongPasswordError, type UserService } from '../users/user-service';
import type { UserWithHash } from '../users/user-store';
import { presentMfaStatus } from './presenters';
import { clientIp } from './request-context';
import { readJson } from './json-body';

export interface AccountMfaDeps {
  users: UserService;
  mfa: MfaService;
  throttle: LoginThrottle;
  /** The signed-in user of the request (the /account bearer token's). */
  currentUser(res: Response): Promise<UserWithHash>;
}

const PASSWORD = z.string().max(1024);
const CODE = z.string().max(64);

class WrongCodeError extends OAuthError {
  constructor() {
    super('invalid_request', 'The code is wrong or was already used.', { status: 400 });
  }
}
/** A check of the user's secret counts in the login throttle like a login (see checkThrottled). */
export const attempter = (req: Request, user: UserWithHash) => ({
  username: user.usernameNormalized,
  ip: clientIp(req),
});
export const isWrongSecret = (error: unknown) => error instanceof WrongPasswordError || error instanceof WrongCodeError;

/** /account/mfa: the signed-in user's own second factor — status, enrolment, recovery codes, disabling. */
export function accountMfaRouter(deps: AccountMfaDeps): Router {
  const router = Router();

  router.get('/account/mfa', async (_req, res) => {
    const user = await deps.currentUser(res);
    res.json(presentMfaStatus(await deps.mfa.status(user.id)));
  });

  // A new secret for an authenticator app, after the password (a stolen access token alone must
  // not be able to bind an authenticator the owner does not have). Shown once; confirm turns it on.
  router.post('/account/mfa/totp', async (req, res) => {
    const body = readJson(req, z.object({ password: PASSWORD }).strict());
    const user = await deps.currentUser(res);
    await checkThrottled(
      deps.throttle,
      attempter(req, user),
      () => deps.users.confirmPassword(user.id, body.password),
      isWrongSecret,
    );
    const { secret, uri } = await deps.mfa.startEnrolment(user);
    // Rendered here: the secret never goes to a third-party QR service.
    res.json({ secret, otpauth_uri: uri, qr_svg: renderSVG(uri, { border: 2 }) });
  });

  // The first valid code turns the authenticator on and returns the recovery codes, this once.
  router.post('/account/mfa/totp/confirm', async (req, res) => {
    const body = readJson(req, z.object({ code: CODE }).strict());
    const user = await deps.currentUser(res);
    const codes = await deps.mfa.confirmEnrolment(user.id, body.code);
    res.json({ recovery_codes: codes });
  });

  // A new set of recovery codes, shown once; the old ones stop working at once. Needs the password
  // and a current authenticator code (a recovery code cannot buy ten more).
  router.post('/account/mfa/recovery-codes', async (req, res) => {
    const body = readJson(req, z.object({ password: PASSWORD, otp: CODE }).strict());
    const user = await deps.currentUser(res);
    if (!(await deps.mfa.isEnabled(user.id))) throw new DomainError('conflict', 'No second factor is set up.');
    await checkThrottled(
      deps.throttle,
      attempter(req, user),
      async () => {
        await deps.users.confirmPassword(user.id, body.password);
        if ((await deps.mfa.verify(user.id, { otp: body.otp })) !== 'otp') throw new WrongCodeError();
      },
      isWrongSecret,
    );
    res.json({ recovery_codes: await deps.mfa.regenerateRecoveryCodes(user.id) });
  });

  // Needs the password and a second factor (a current code or a recovery code).
  router.post('/account/mfa/disable', async (req, res) => {
    const body = readJson(
      req,
      z.object({ password: PASSWORD, otp: CODE.optional(), recovery_code: CODE.optional() }).strict(),
    );
    if ((body.otp === undefined) === (body.recovery_code === undefined)) {
      throw new OAuthError('invalid_request', 'Send exactly one of otp and recovery_code.');
    }
    const user = await deps.currentUser(res);
    await checkThrottled(
      deps.throttle,
      attempter(req, user),
      async () => {
        await deps.users.confirmPassword(user.id, body.password);
        const factor = body.otp !== undefined ? { otp: body.otp } : { recoveryCode: body.recovery_code ?? '' };
        if (!(await deps.mfa.verify(user.id, factor))) throw new WrongCodeError();
      },
      isWrongSecret,
    );
    await deps.mfa.remove(user.id, 'user');
    res.status(204).end();
  });

  return router;
}
