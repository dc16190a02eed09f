import { z } from 'zod';
import type { RequestContext } from '../../audit/audit-log';
import { HELD_BY_EVERY_USER, scopesOfUser } from '../../clients/authd-clients';
import { invalidGrant, invalidScope } from '../../errors';
import { param, SCOPE } from '../param-schemas';
import type { Clock } from '../../clock';
import type { SessionGrant, SessionStore } from '../../sessions/session-store';
import type { SessionRevoker } from '../../sessions/session-revoker';
import { timeOrderedUuid } from '../../store/time-ordered-id';
import { InvalidTokenError } from '../../tokens/jwt';
import type { RefreshTokenClaims, TokenIssuer } from '../../tokens/token-issuer';
import type { UserService } from '../../users/user-service';
import { userClaimsFor } from '../../tokens/user-claims';
import { confirmRevokedKeyRefreshToken } from '../revoked-key';
import { formatScope, intersect, missingFrom, parseScope } from '../../scopes/scope';
import { mfaRequiredByClient } from './user-tokens';
import { lifetimesFor, type GrantAudit, type GrantHandler, type GrantRequest, type Lifetimes } from './grant';

const schema = z.object({ refresh_token: param('refresh_token', 8192), scope: SCOPE });
type Params = z.infer<typeof schema>;

export interface RefreshTokenGrantDeps {
  tokens: Pick<TokenIssuer, 'verifyRefreshToken' | 'currentKid' | 'issueAccessToken' | 'signRefreshToken'>;
  sessions: Pick<SessionStore, 'rotate' | 'inspect' | 'unspentChild'>;
  revoker: Pick<SessionRevoker, 'revokeSession'>;
  /** Only for clients whose tokens carry claims about the user. */
  users: Pick<UserService, 'requireUser'>;
  clock: Clock;
  lifetimes: Lifetimes;
  audit: GrantAudit;
}

const INVALID = 'The refresh token is invalid, expired or revoked.';

function grantableScopes(grant: Pick<SessionGrant, 'sessionScopes' | 'userScopes' | 'clientScopes'>): string[] {
  return intersect(intersect(grant.sessionScopes, scopesOfUser(grant.userScopes)), grant.clientScopes);
}

function checkScope(
  requested: string[] | null,
  grant: Pick<SessionGrant, 'sessionScopes' | 'userScopes' | 'clientScopes'>,
): void {
  if (requested && missingFrom(requested, grantableScopes(grant)).length) {
    throw invalidScope('The requested scope exceeds the scope granted.', {
      detail: `grantable: ${formatScope(grantableScopes(grant))}`,
    });
  }
}

/**
 * Called when rotation found nothing to consume: works out why. A reuse inside the grace window
 * gets the presented token's own child, while that child is unspent (two tabs, a lost response);
 * any other reuse (after the window, or of a token whose child was spent in turn) revokes the
 * family. Returns the grant to answer with, undefined to retry the rotation, or throws.
 */
async function explainRefusal(
  jti: string,
  requested: string[] | null,
  now: Date,
  deps: RefreshTokenGrantDeps,
  clientId: string,
  context: RequestContext,
): Promise<SessionGrant | undefined> {
  const found = await deps.sessions.inspect(jti, now);
  if (!found) throw invalidGrant(INVALID, { detail: 'unknown refresh token' });
  if (found.sessionRevoked) throw invalidGrant(INVALID, { detail: 'session revoked' });
  if (found.userDisabled) throw invalidGrant(INVALID, { detail: 'user disabled' });
  if (found.sessionExpired) throw invalidGrant(INVALID, { detail: 'session reached its absolute lifetime' });
  if (found.consumedAt) {
    const sinceConsumed = now.getTime() - found.consumedAt.getTime();
    const inGrace = sinceConsumed < deps.lifetimes.refreshReuseGrace * 1000;
    const child = inGrace ? await deps.sessions.unspentChild(jti, now) : undefined;
    if (child) {
      checkScope(requested, child);
      deps.audit.record({
        type: 'refresh_token_reused_in_grace',
        clientId,
        userId: child.userId,
        context,
        details: { sid: found.sessionId, ms_since_consumed: sinceConsumed },
      });
      return child;
    }
    await deps.revoker.revokeSession(found.sessionId, 'refresh_token_reuse');
    const why = inGrace ? 'its child was spent too' : 'after the grace window';
    deps.audit.record({
      type: 'refresh_token_reuse_detected',
      clientId,
      userId: found.userId,
      context,
      details: { sid: found.sessionId, ms_since_consumed: sinceConsumed, ...(inGrace && { child_spent: true }) },
    });
    throw invalidGrant(INVALID, { detail: `refresh token reused ${why}; session revoked` });
  }
  checkScope(requested, found);
  if (found.expired) throw invalidGrant(INVALID, { detail: 'refresh token idle lifetime passed' });
  return undefined; // consumable after all: another request changed it in between; try again
}

/** RFC 6749 §6 with single-use rotation and reuse detection. */
export const refreshTokenGrant = {
  grantType: 'refresh_token',
  schema,

  async handle({ params, client, context }: GrantRequest & { params: Params }, deps: RefreshTokenGrantDeps) {
    const requested = params.scope !== undefined ? parseScope(params.scope) : null;
    let claims: RefreshTokenClaims;
    try {
      claims = await deps.tokens.verifyRefreshToken(params.refresh_token, { acceptRevokedKey: true });
    } catch (error) {
      if (error instanceof InvalidTokenError) throw invalidGrant(INVALID, { detail: error.reason });
      throw error;
    }
    // RFC 6749 §6: a refresh token is bound to the client it was issued to.
    if (claims.clientId !== client.id) throw invalidGrant(INVALID, { detail: `issued to client ${claims.clientId}` });
    if (
      claims.revokedKid &&
      !(await confirmRevokedKeyRefreshToken(claims, client.id, {
        sessions: deps.sessions,
        audit: deps.audit,
        now: new Date(deps.clock.now()),
        context,
      }))
    ) {
      throw invalidGrant(INVALID, {
        detail: `signed by revoked key ${claims.revokedKid}, and not a refresh token of the session it claims`,
      });
    }

    const lifetimes = lifetimesFor(client, deps.lifetimes);
    let grant: SessionGrant | undefined;
    for (let attempt = 0; attempt < 2 && !grant; attempt++) {
      const now = new Date(deps.clock.now());
      const child = {
        jti: timeOrderedUuid(now.getTime()),
        kid: deps.tokens.currentKid(),
        idleExpiresAt: new Date(now.getTime() + lifetimes.refreshIdleTtl * 1000),
      };
      grant =
        (await deps.sessions.rotate(claims.jti, now, child, requested, HELD_BY_EVERY_USER)) ??
        (await explainRefusal(claims.jti, requested, now, deps, client.id, context));
    }
    if (!grant) throw invalidGrant(INVALID, { detail: 'rotation kept failing' });
    // A client that started requiring MFA after this session began: the session cannot go on.
    if (client.requireMfa && grant.assurance.acr !== 'aal2') {
      await deps.revoker.revokeSession(grant.sessionId, 'client_requires_mfa');
      throw mfaRequiredByClient();
    }

    const scopes = requested ?? grantableScopes(grant);
    // Claims about the user come from the user as they are now, not as they were at login.
    const user =
      client.userClaims.length || client.metadataClaims.length
        ? await deps.users.requireUser({ id: grant.userId })
        : undefined;
    const [access, refreshToken] = await Promise.all([
      deps.tokens.issueAccessToken({
        subject: grant.userId,
        clientId: client.id,
        audience: client.audience,
        scopes,
        roles: grant.roles,
        sessionId: grant.sessionId,
        ttlSeconds: lifetimes.accessTokenTtl,
        ...(user && { userClaims: userClaimsFor(client, user, scopes) }),
        assurance: grant.assurance,
      }),
      deps.tokens.signRefreshToken(grant.refreshToken, {
        userId: grant.userId,
        clientId: grant.clientId,
        sessionId: grant.sessionId,
      }),
    ]);
    deps.audit.record({
      type: 'token_refreshed',
      clientId: client.id,
      userId: grant.userId,
      context,
      details: { sid: grant.sessionId },
    });
    return {
      access_token: access.token,
      token_type: 'Bearer' as const,
      expires_in: access.expiresIn,
      refresh_token: refreshToken,
      scope: formatScope(scopes),
    };
  },
} satisfies GrantHandler<Params, RefreshTokenGrantDeps>;
