import type { AuditLog, RequestContext } from '../audit/audit-log';
import type { SessionStore } from '../sessions/session-store';
import type { RefreshTokenClaims } from '../tokens/token-issuer';

/**
 * A refresh token signed by a revoked key may have been forged by whoever holds the key, so its
 * claims are believed only as far as the database confirms them: its jti must name a refresh
 * token of the very session, user and client it claims. A forger cannot know a live jti (it is
 * random and appears only inside the genuine token), so the genuine holder's session continues —
 * and moves to the current key at its next rotation — while a forgery is refused. Both outcomes
 * are audited.
 */
export async function confirmRevokedKeyRefreshToken(
  claims: RefreshTokenClaims,
  clientId: string,
  deps: {
    sessions: Pick<SessionStore, 'inspect'>;
    audit: Pick<AuditLog, 'record'>;
    now: Date;
    context?: RequestContext;
  },
): Promise<boolean> {
  const row = await deps.sessions.inspect(claims.jti, deps.now);
  const confirmed =
    row !== undefined &&
    row.sessionId === claims.sessionId &&
    row.userId === claims.userId &&
    row.clientId === clientId;
  deps.audit.record({
    type: 'refresh_token_of_revoked_key',
    clientId,
    userId: confirmed ? row.userId : null,
    ...(deps.context && { context: deps.context }),
    details: {
      kid: claims.revokedKid,
      outcome: confirmed ? 'confirmed' : 'refused',
      ...(confirmed && { sid: row.sessionId }),
    },
  });
  return confirmed;
}
