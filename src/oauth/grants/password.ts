import crypto from 'node:crypto';
import { z } from 'zod';
import type { ThrottleDecision } from '../../abuse/login-throttle';
import { scopesOfUser } from '../../clients/authd-clients';
import { OAuthError, invalidGrant, invalidScope } from '../../errors';
import { param, passwordParam, SCOPE } from '../param-schemas';
import { userClaimsFor } from '../../tokens/user-claims';
import type { LoginResult } from '../../users/user-service';
import { normalizeUsername } from '../../users/username';
import { formatScope, intersect, missingFrom, parseScope } from '../../scopes/scope';
import { lifetimesFor, type GrantDeps, type GrantHandler, type GrantRequest } from './grant';

const schema = z.object({ username: param('username', 512), password: passwordParam(), scope: SCOPE });
type Params = z.infer<typeof schema>;

export const UNVERIFIED_EMAIL = 'The email address of this account is not verified: follow the link in the verification mail, or ask for a new one (POST /account/email-verification).';

/** Normalised when valid; otherwise the raw value, so junk usernames are throttled too. */
export function throttleName(username: string): string {
  try {
    return normalizeUsername(username);
  } catch {
    return username.toLowerCase();
  }
}

/** Counts the attempt before any password work; a refused attempt costs no Argon2. */
async function admitAttempt(username: string, { client, context, trustedDevice }: GrantRequest, deps: GrantDeps): Promise<ThrottleDecision> {
  const decision = await deps.throttle.begin(throttleName(username), context.ip ?? 'unknown', { trustedDevice: trustedDevice === true });
  if (decision.allowed) return decision;
  deps.audit.record({ type: 'login_throttled', clientId: client.id, context, details: { reason: decision.reason, retry_after: decision.retryAfterSeconds } });
  throw new OAuthError('temporarily_unavailable', `Too many failed login attempts; try again in ${decision.retryAfterSeconds} seconds.`, {
    status: 429,
    headers: { 'Retry-After': String(decision.retryAfterSeconds) },
    detail: decision.reason,
  });
}

/** RFC 6749 §4.3, for first-party clients only (RFC 9700 §2.4). */
export const passwordGrant = {
  grantType: 'password',
  schema,

  async handle(request: GrantRequest & { params: Params }, deps: GrantDeps) {
    const { params, client, context } = request;
    const requested = params.scope !== undefined ? parseScope(params.scope) : undefined;
    if (requested) {
      const notForClient = missingFrom(requested, client.scopes);
      if (notForClient.length) throw invalidScope('The client may not request this scope.', { detail: `client lacks ${notForClient.join(' ')}` });
    }

    const admitted = await admitAttempt(params.username, request, deps);
    let login: LoginResult;
    try {
      login = await deps.users.verifyLogin(params.username, params.password);
    } catch (error) {
      // Not checked at all (hashing at capacity, a store down): neither a success nor a failure.
      await deps.throttle.release(throttleName(params.username), context.ip ?? 'unknown', admitted).catch(() => {});
      throw error;
    }
    if (!login.ok) {
      deps.audit.record({ type: 'login_failed', clientId: client.id, userId: login.userId ?? null, context, details: { reason: login.reason } });
      // One answer for unknown user, wrong password and disabled user: no account enumeration.
      throw invalidGrant('Invalid username or password.', { detail: login.reason });
    }
    const { user } = login;
    await deps.throttle.succeeded(throttleName(params.username), context.ip ?? 'unknown');
    // Only after the password: telling "unverified" to someone without it would leak the account.
    if (deps.requireVerifiedEmail && !user.emailVerified) {
      deps.audit.record({ type: 'login_failed', clientId: client.id, userId: user.id, context, details: { reason: 'email_unverified' } });
      throw invalidGrant(UNVERIFIED_EMAIL, { detail: 'email_unverified' });
    }
    // Checked only after the password, so the answer reveals nothing about unknown accounts.
    let scopes: string[];
    const userScopes = scopesOfUser(user.scopes);
    if (requested) {
      const notForUser = missingFrom(requested, userScopes);
      if (notForUser.length) throw invalidScope('The user may not be granted this scope.', { detail: `user lacks ${notForUser.join(' ')}` });
      scopes = requested;
    } else {
      scopes = intersect(client.defaultScopes, userScopes);
    }

    const lifetimes = lifetimesFor(client, deps.lifetimes);
    const now = deps.clock.now();
    const sessionId = crypto.randomUUID();
    const issueRefresh = client.grantTypes.includes('refresh_token');
    const refreshRecord = {
      jti: crypto.randomUUID(),
      kid: deps.tokens.currentKid(),
      issuedAt: new Date(now),
      expiresAt: new Date(now + Math.min(lifetimes.refreshIdleTtl, lifetimes.refreshAbsoluteTtl) * 1000),
    };
    if (issueRefresh) {
      await deps.sessions.create({
        id: sessionId,
        userId: user.id,
        clientId: client.id,
        scopes,
        createdAt: new Date(now),
        expiresAt: new Date(now + lifetimes.refreshAbsoluteTtl * 1000),
        ip: context.ip,
        userAgent: context.userAgent,
        firstToken: refreshRecord,
      });
    }
    const [access, refreshToken] = await Promise.all([
      deps.tokens.issueAccessToken({
        subject: user.id,
        clientId: client.id,
        audience: client.audience,
        scopes,
        roles: user.roles,
        ...(issueRefresh && { sessionId }),
        ttlSeconds: lifetimes.accessTokenTtl,
        userClaims: userClaimsFor(client, user, scopes),
      }),
      issueRefresh ? deps.tokens.signRefreshToken(refreshRecord, { userId: user.id, clientId: client.id, sessionId }) : undefined,
    ]);
    deps.audit.record({ type: 'login_succeeded', clientId: client.id, userId: user.id, context, details: { scope: formatScope(scopes), ...(issueRefresh && { sid: sessionId }) } });
    return {
      access_token: access.token,
      token_type: 'Bearer' as const,
      expires_in: access.expiresIn,
      ...(refreshToken !== undefined && { refresh_token: refreshToken }),
      scope: formatScope(scopes),
    };
  },
} satisfies GrantHandler<Params>;
