import { z } from 'zod';
import { scopesOfUser } from '../../clients/authd-clients';
import { OAuthError, invalidGrant, invalidScope } from '../../errors';
import { param, passwordParam, SCOPE } from '../param-schemas';
import { MFA_TOKEN_TTL_SECONDS } from '../../mfa/mfa-service';
import { assuranceOf } from '../../sessions/assurance';
import { normalizeUsername } from '../../users/username';
import { intersect, missingFrom, parseScope } from '../../scopes/scope';
import type { MfaService } from '../../mfa/mfa-service';
import type { UserService } from '../../users/user-service';
import type { GrantHandler, GrantRequest } from './grant';
import {
  admitAttempt,
  issueUserTokens,
  mfaRequiredByClient,
  type AttemptDeps,
  type UserTokenDeps,
} from './user-tokens';

const schema = z.object({ username: param('username', 512), password: passwordParam(), scope: SCOPE });
type Params = z.infer<typeof schema>;

export interface PasswordGrantDeps extends UserTokenDeps, AttemptDeps {
  users: Pick<UserService, 'verifyLogin'>;
  mfa: Pick<MfaService, 'isEnabled' | 'issueChallenge'>;
  /** AUTHD_REQUIRE_VERIFIED_EMAIL: password logins need a verified address. */
  requireVerifiedEmail?: boolean;
}

export const UNVERIFIED_EMAIL =
  'The email address of this account is not verified: follow the link in the verification mail, or ask for a new one (POST /account/email-verification).';

/** Normalised when valid; otherwise the raw value, so junk usernames are throttled too. */
export function throttleName(username: string): string {
  try {
    return normalizeUsername(username);
  } catch {
    return username.toLowerCase();
  }
}

/** RFC 6749 §4.3, for first-party clients only (RFC 9700 §2.4). */
export const passwordGrant = {
  grantType: 'password',
  schema,

  async handle(request: GrantRequest & { params: Params }, deps: PasswordGrantDeps) {
    const { params, client, context } = request;
    const requested = params.scope !== undefined ? parseScope(params.scope) : undefined;
    if (requested) {
      const notForClient = missingFrom(requested, client.scopes);
      if (notForClient.length)
        throw invalidScope('The client may not request this scope.', {
          detail: `client lacks ${notForClient.join(' ')}`,
        });
    }

    const name = throttleName(params.username);
    const attempt = await admitAttempt(name, client, context, deps, request.trustedDevice === true);
    // A thrown error means not checked at all (hashing at capacity, a store down): the attempt is given back.
    const login = await attempt.check(() => deps.users.verifyLogin(params.username, params.password));
    if (!login.ok) {
      deps.audit.record({
        type: 'login_failed',
        clientId: client.id,
        userId: login.userId ?? null,
        context,
        details: { reason: login.reason },
      });
      // One answer for unknown user, wrong password and disabled user: no account enumeration.
      throw invalidGrant('Invalid username or password.', { detail: login.reason });
    }
    const { user } = login;
    const hasMfa = await deps.mfa.isEnabled(user.id);
    // The sign-in is complete only after the second factor: until then the counters stay as they
    // are (so a known password cannot reset the count of wrong codes), only this attempt is given back.
    await (hasMfa ? attempt.release() : attempt.succeeded());
    // Only after the password: telling "unverified" to someone without it would leak the account.
    if (deps.requireVerifiedEmail && !user.emailVerified) {
      deps.audit.record({
        type: 'login_failed',
        clientId: client.id,
        userId: user.id,
        context,
        details: { reason: 'email_unverified' },
      });
      throw invalidGrant(UNVERIFIED_EMAIL, { detail: 'email_unverified' });
    }
    // Checked only after the password, so the answer reveals nothing about unknown accounts.
    let scopes: string[];
    const userScopes = scopesOfUser(user.scopes);
    if (requested) {
      const notForUser = missingFrom(requested, userScopes);
      if (notForUser.length)
        throw invalidScope('The user may not be granted this scope.', { detail: `user lacks ${notForUser.join(' ')}` });
      scopes = requested;
    } else {
      scopes = intersect(client.defaultScopes, userScopes);
    }

    if (hasMfa) {
      const mfaToken = await deps.mfa.issueChallenge({
        userId: user.id,
        clientId: client.id,
        scopes,
        authTime: new Date(deps.clock.now()),
      });
      deps.audit.record({ type: 'login_mfa_required', clientId: client.id, userId: user.id, context });
      throw new OAuthError(
        'mfa_required',
        'A second factor is required: send the mfa_token with an authenticator or recovery code (grant_type urn:authd:params:oauth:grant-type:mfa-otp).',
        {
          fields: { mfa_token: mfaToken, expires_in: MFA_TOKEN_TTL_SECONDS },
        },
      );
    }
    if (client.requireMfa) throw mfaRequiredByClient();
    return issueUserTokens(
      { user, client, scopes, assurance: assuranceOf(undefined, deps.clock.now()), context },
      deps,
    );
  },
} satisfies GrantHandler<Params, PasswordGrantDeps>;
