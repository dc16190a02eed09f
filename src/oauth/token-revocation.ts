import { CLOCK_SKEW_SECONDS } from '@authd/verifier';
import type { AuditLog, RequestContext } from '../audit/audit-log';
import type { Clock } from '../clock';
import { OAuthError } from '../errors';
import type { GrantClient } from './grants/grant';
import type { RevocationStore } from '../revocation/revocation-store';
import type { SessionStore } from '../sessions/session-store';
import type { SessionRevoker } from '../sessions/session-revoker';
import { InvalidTokenError } from '../tokens/jwt';
import type { TokenIssuer } from '../tokens/token-issuer';
import { confirmRevokedKeyRefreshToken } from './revoked-key';

export interface TokenRevocationDeps {
  tokens: Pick<TokenIssuer, 'verifyAccessToken' | 'verifyRefreshToken'>;
  revocations: Pick<RevocationStore, 'revoke'>;
  revoker: Pick<SessionRevoker, 'revokeSession'>;
  sessions: Pick<SessionStore, 'inspect'>;
  clock: Clock;
  audit: Pick<AuditLog, 'record'>;
}

type Kind = 'access_token' | 'refresh_token';

// Entries outlive the token's exp by the rule set's skew, for verifiers whose clocks run late.
const SKEW_MS = CLOCK_SKEW_SECONDS * 1000;

async function identify(token: string, hint: string | undefined, tokens: TokenRevocationDeps['tokens']) {
  const order: Kind[] =
    hint === 'refresh_token' ? ['refresh_token', 'access_token'] : ['access_token', 'refresh_token'];
  for (const kind of order) {
    try {
      if (kind === 'access_token') return { kind, claims: await tokens.verifyAccessToken(token) } as const;
      return { kind, claims: await tokens.verifyRefreshToken(token, { acceptRevokedKey: true }) } as const;
    } catch (error) {
      if (!(error instanceof InvalidTokenError)) throw error;
    }
  }
  return undefined;
}

/**
 * RFC 7009. Revoking a refresh token ends its whole session (every refresh token of the family,
 * and its access tokens through the sid); revoking an access token revokes its jti. Unknown,
 * malformed or expired tokens need nothing and get the same 200 (§2.2).
 */
export async function revokeToken(
  token: string,
  hint: string | undefined,
  client: GrantClient,
  context: RequestContext,
  deps: TokenRevocationDeps,
): Promise<void> {
  const found = await identify(token, hint, deps.tokens);
  if (!found) return;
  const owner = found.kind === 'access_token' ? found.claims.client_id : found.claims.clientId;
  // §2.1: the server verifies that the token was issued to the client asking.
  if (owner !== client.id) {
    throw new OAuthError('unauthorized_client', 'The token was not issued to this client.', {
      detail: `owner ${owner}`,
    });
  }
  if (found.kind === 'refresh_token') {
    // A forgery with a leaked key could name anyone's session: only a confirmed one may log out.
    const { revokedKid } = found.claims;
    if (
      revokedKid &&
      !(await confirmRevokedKeyRefreshToken(found.claims, client.id, {
        sessions: deps.sessions,
        audit: deps.audit,
        now: new Date(deps.clock.now()),
        context,
      }))
    )
      return;
    await deps.revoker.revokeSession(found.claims.sessionId, 'revoked_by_client');
    deps.audit.record({
      type: 'session_revoked',
      clientId: client.id,
      userId: found.claims.userId,
      context,
      details: { sid: found.claims.sessionId, reason: 'revoked_by_client' },
    });
    return;
  }
  const now = deps.clock.now();
  await deps.revocations.revoke([
    {
      kind: 'jti',
      subject: found.claims.jti,
      revokedAt: new Date(now),
      expiresAt: new Date(found.claims.exp * 1000 + SKEW_MS),
    },
  ]);
  deps.audit.record({
    type: 'access_token_revoked',
    clientId: client.id,
    userId: found.claims.sub === client.id ? null : found.claims.sub,
    context,
    details: { jti: found.claims.jti },
  });
}
