import { z } from 'zod';
import { scopesOfUser } from '../../clients/authd-clients';
import { invalidGrant, invalidRequest } from '../../errors';
import type { MfaService } from '../../mfa/mfa-service';
import { param } from '../param-schemas';
import { assuranceOf } from '../../sessions/assurance';
import { intersect } from '../../scopes/scope';
import type { UserService } from '../../users/user-service';
import type { GrantHandler, GrantRequest } from './grant';
import { admitAttempt, issueUserTokens, type AttemptDeps, type UserTokenDeps } from './user-tokens';

/** The second step of a password sign-in for a user with MFA (authd's own grant type URI). */
export const MFA_OTP_GRANT = 'urn:authd:params:oauth:grant-type:mfa-otp';

const schema = z.object({
  mfa_token: param('mfa_token', 128),
  otp: param('otp', 16).optional(),
  recovery_code: param('recovery_code', 64).optional(),
});
type Params = z.infer<typeof schema>;

export interface MfaOtpGrantDeps extends UserTokenDeps, AttemptDeps {
  users: Pick<UserService, 'requireUser'>;
  mfa: Pick<MfaService, 'claimChallenge' | 'verify' | 'consumeChallenge'>;
}

const INVALID_TOKEN = 'The mfa_token is invalid, expired or already used; sign in with the password again.';
const WRONG_CODE = 'The code is wrong or was already used.';

/**
 * Completes a password sign-in with an authenticator code (`otp`) or a recovery code. The
 * mfa_token is the client's own (another client's is unknown here), lives five minutes, allows a
 * few tries and is spent by the first success. Every code counts in the login throttle of the
 * user and IP before it is checked, like a password.
 */
export const mfaOtpGrant = {
  grantType: MFA_OTP_GRANT,
  schema,

  async handle({ params, client, context, device }: GrantRequest & { params: Params }, deps: MfaOtpGrantDeps) {
    if ((params.otp === undefined) === (params.recovery_code === undefined)) {
      throw invalidRequest('Send exactly one of the otp and recovery_code parameters.');
    }
    const challenge = await deps.mfa.claimChallenge(params.mfa_token, client.id);
    if (!challenge)
      throw invalidGrant(INVALID_TOKEN, { detail: "unknown, expired, spent, out of tries or another client's" });
    const user = await deps.users.requireUser({ id: challenge.userId }).catch(() => undefined);
    if (!user || user.disabledAt) throw invalidGrant(INVALID_TOKEN, { detail: 'user gone or disabled' });

    // The owner's browser gets through a full per-user ceiling here as at the password step.
    const trustedDevice = device?.vouchesFor(user.usernameNormalized) === true;
    const attempt = await admitAttempt(user.usernameNormalized, client, context, deps, trustedDevice);
    const factor = params.otp !== undefined ? { otp: params.otp } : { recoveryCode: params.recovery_code ?? '' };
    const accepted = await attempt.check(() => deps.mfa.verify(user.id, factor));
    if (!accepted) {
      deps.audit.record({
        type: 'mfa_failed',
        clientId: client.id,
        userId: user.id,
        context,
        details: { factor: params.otp !== undefined ? 'otp' : 'recovery_code' },
      });
      throw invalidGrant(WRONG_CODE, { detail: 'second factor refused' });
    }
    if (!(await deps.mfa.consumeChallenge(params.mfa_token)))
      throw invalidGrant(INVALID_TOKEN, { detail: 'spent by a concurrent request' });
    await attempt.succeeded();
    // The user's scopes as they are now: one taken away in the last minutes is not granted.
    const scopes = intersect(challenge.scopes, scopesOfUser(user.scopes));
    const tokens = await issueUserTokens(
      { user, client, scopes, assurance: assuranceOf(accepted, deps.clock.now()), context },
      deps,
    );
    device?.signedIn(user.usernameNormalized);
    return tokens;
  },
} satisfies GrantHandler<Params, MfaOtpGrantDeps>;
