import { beginLoginAttempt, type LoginAttempt } from '../../abuse/login-attempt';
import type { LoginThrottle } from '../../abuse/login-throttle';
import type { RequestContext } from '../../audit/audit-log';
import type { Clock } from '../../clock';
import { invalidGrant } from '../../errors';
import type { Assurance } from '../../sessions/assurance';
import type { SessionStore } from '../../sessions/session-store';
import { timeOrderedUuid } from '../../store/time-ordered-id';
import type { TokenIssuer } from '../../tokens/token-issuer';
import { userClaimsFor } from '../../tokens/user-claims';
import type { UserWithHash } from '../../users/user-store';
import { formatScope } from '../../scopes/scope';
import { lifetimesFor, type GrantAudit, type GrantClient, type Lifetimes, type TokenResponse } from './grant';

/** What a completed sign-in needs: a session store, the token issuer and the lifetimes. */
export interface UserTokenDeps {
  tokens: Pick<TokenIssuer, 'issueAccessToken' | 'signRefreshToken' | 'currentKid'>;
  sessions: Pick<SessionStore, 'create'>;
  clock: Clock;
  lifetimes: Lifetimes;
  audit: GrantAudit;
}

/** What counting a sign-in attempt needs. */
export interface AttemptDeps {
  throttle: LoginThrottle;
  audit: GrantAudit;
}

/** The answer for a client with require_mfa and a user without a second factor. */
export const mfaRequiredByClient = () =>
  invalidGrant('This client requires a second factor; enrol one at /account.', { detail: 'client requires MFA' });

/**
 * Counts a sign-in attempt (a password or a second-factor code) in the login throttle, per user
 * and IP, before any checking work; a refused attempt is audited and costs nothing further.
 */
export function admitAttempt(
  throttleUser: string,
  client: GrantClient,
  context: RequestContext,
  deps: AttemptDeps,
  trustedDevice = false,
): Promise<LoginAttempt> {
  return beginLoginAttempt(
    deps.throttle,
    { username: throttleUser, ip: context.ip, trustedDevice },
    {
      noun: 'login attempts',
      onRefused: (decision) =>
        deps.audit.record({
          type: 'login_throttled',
          clientId: client.id,
          context,
          details: { reason: decision.reason, retry_after: decision.retryAfterSeconds },
        }),
    },
  );
}

/** A completed sign-in: a new session (when the client takes refresh tokens) and its first tokens. */
export async function issueUserTokens(
  input: { user: UserWithHash; client: GrantClient; scopes: string[]; assurance: Assurance; context: RequestContext },
  deps: UserTokenDeps,
): Promise<TokenResponse> {
  const { user, client, scopes, assurance, context } = input;
  const lifetimes = lifetimesFor(client, deps.lifetimes);
  const now = deps.clock.now();
  const sessionId = timeOrderedUuid(now);
  const issueRefresh = client.grantTypes.includes('refresh_token');
  const refreshRecord = {
    jti: timeOrderedUuid(now),
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
      assurance,
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
      assurance,
    }),
    issueRefresh
      ? deps.tokens.signRefreshToken(refreshRecord, { userId: user.id, clientId: client.id, sessionId })
      : undefined,
  ]);
  deps.audit.record({
    type: 'login_succeeded',
    clientId: client.id,
    userId: user.id,
    context,
    details: { scope: formatScope(scopes), amr: assurance.amr, ...(issueRefresh && { sid: sessionId }) },
  });
  return {
    access_token: access.token,
    token_type: 'Bearer' as const,
    expires_in: access.expiresIn,
    ...(refreshToken !== undefined && { refresh_token: refreshToken }),
    scope: formatScope(scopes),
  };
}
