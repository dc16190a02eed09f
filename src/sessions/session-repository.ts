import type { Queryable } from '../store/database';
import type { Acr } from './assurance';
import type { NewSession, RefreshTokenInspection, SessionGrant, SessionStore, SessionSummary } from './session-store';

interface GrantRow {
  session_id: string;
  user_id: string;
  client_id: string;
  session_scopes: string[];
  user_scopes: string[];
  client_scopes: string[];
  roles: string[];
  jti: string;
  kid: string;
  issued_at: Date;
  expires_at: Date;
  amr: string[];
  acr: Acr;
  auth_time: Date;
}

const toGrant = (row: GrantRow): SessionGrant => ({
  sessionId: row.session_id,
  userId: row.user_id,
  clientId: row.client_id,
  sessionScopes: row.session_scopes,
  userScopes: row.user_scopes,
  clientScopes: row.client_scopes,
  roles: row.roles,
  refreshToken: { jti: row.jti, kid: row.kid, issuedAt: row.issued_at, expiresAt: row.expires_at },
  assurance: { amr: row.amr, acr: row.acr, authTime: Math.floor(row.auth_time.getTime() / 1000) },
});

// Consumes the parent and inserts the child in one statement: under concurrency exactly one
// request sees `consumed_at IS NULL`, the others wait for its row lock and then find it consumed.
// The user, client and session are re-checked in the same WHERE, so nothing is consumed when the
// answer would be an error.
const ROTATE = `
WITH consumed AS (
  UPDATE refresh_tokens t SET consumed_at = $2
  FROM sessions s, users u, clients c
  WHERE t.jti = $1 AND t.consumed_at IS NULL AND t.expires_at > $2
    AND s.id = t.session_id AND s.revoked_at IS NULL AND s.expires_at > $2
    AND u.id = s.user_id AND u.disabled_at IS NULL
    AND c.id = s.client_id
    AND ($6::text[] IS NULL OR (s.scopes @> $6::text[] AND (u.scopes || $7::text[]) @> $6::text[] AND c.scopes @> $6::text[]))
  RETURNING t.session_id, s.user_id, s.client_id, s.expires_at AS session_expires_at,
            s.scopes AS session_scopes, u.scopes AS user_scopes, c.scopes AS client_scopes, u.roles,
            s.amr, s.acr, COALESCE(s.auth_time, s.created_at) AS auth_time
), child AS (
  INSERT INTO refresh_tokens (jti, session_id, kid, issued_at, expires_at, parent_jti)
  SELECT $3, session_id, $4, $2, LEAST($5::timestamptz, session_expires_at), $1 FROM consumed
  RETURNING jti, kid, issued_at, expires_at
), touched AS (
  UPDATE sessions SET last_used_at = $2 WHERE id IN (SELECT session_id FROM consumed)
)
SELECT consumed.*, child.* FROM consumed, child`;

const INSPECT = `
SELECT t.session_id, s.user_id, s.client_id, t.consumed_at, t.expires_at <= $2 AS expired,
       s.revoked_at IS NOT NULL AS session_revoked, s.expires_at <= $2 AS session_expired,
       u.disabled_at IS NOT NULL AS user_disabled,
       s.scopes AS session_scopes, u.scopes AS user_scopes, c.scopes AS client_scopes
FROM refresh_tokens t
JOIN sessions s ON s.id = t.session_id
JOIN users u ON u.id = s.user_id
JOIN clients c ON c.id = s.client_id
WHERE t.jti = $1`;

// The token rotated from $1, while it is unspent and its session live: what a retry of $1 inside
// the grace window may receive. Anything further down the family is out of its reach.
const CHILD = `
SELECT t.session_id, s.user_id, s.client_id, s.scopes AS session_scopes, u.scopes AS user_scopes,
       c.scopes AS client_scopes, u.roles, t.jti, t.kid, t.issued_at, t.expires_at,
       s.amr, s.acr, COALESCE(s.auth_time, s.created_at) AS auth_time
FROM refresh_tokens t
JOIN sessions s ON s.id = t.session_id
JOIN users u ON u.id = s.user_id
JOIN clients c ON c.id = s.client_id
WHERE t.parent_jti = $1 AND t.consumed_at IS NULL AND t.expires_at > $2
  AND s.revoked_at IS NULL AND s.expires_at > $2 AND u.disabled_at IS NULL`;

export function createSessionRepository(db: Queryable): SessionStore {
  return {
    /** A user's sessions, newest first; live ones only unless includeEnded. */
    async listForUser(userId: string, now: Date, includeEnded = false): Promise<SessionSummary[]> {
      const rows = await db.query<{
        id: string;
        client_id: string;
        scopes: string[];
        created_at: Date;
        last_used_at: Date;
        expires_at: Date;
        revoked_at: Date | null;
        revoked_reason: string | null;
        ip: string | null;
        user_agent: string | null;
      }>(
        `SELECT id, client_id, scopes, created_at, last_used_at, expires_at, revoked_at, revoked_reason, ip, user_agent
         FROM sessions WHERE user_id = $1 AND ($3 OR (revoked_at IS NULL AND expires_at > $2))
         ORDER BY created_at DESC LIMIT 500`,
        [userId, now, includeEnded],
      );
      return rows.map((r) => ({
        id: r.id,
        clientId: r.client_id,
        scopes: r.scopes,
        createdAt: r.created_at,
        lastUsedAt: r.last_used_at,
        expiresAt: r.expires_at,
        revokedAt: r.revoked_at,
        revokedReason: r.revoked_reason,
        ip: r.ip,
        userAgent: r.user_agent,
      }));
    },

    /** The session and its first refresh token, in one statement. */
    async create(session: NewSession): Promise<void> {
      await db.query(
        `WITH s AS (
           INSERT INTO sessions (id, user_id, client_id, scopes, created_at, last_used_at, expires_at, ip, user_agent, amr, acr, auth_time)
           VALUES ($1, $2, $3, $4, $5, $5, $6, $7, $8, $13, $14, $15) RETURNING id)
         INSERT INTO refresh_tokens (jti, session_id, kid, issued_at, expires_at)
         SELECT $9, id, $10, $11, $12 FROM s`,
        [
          session.id,
          session.userId,
          session.clientId,
          session.scopes,
          session.createdAt,
          session.expiresAt,
          session.ip,
          session.userAgent,
          session.firstToken.jti,
          session.firstToken.kid,
          session.firstToken.issuedAt,
          session.firstToken.expiresAt,
          session.assurance.amr,
          session.assurance.acr,
          new Date(session.assurance.authTime * 1000),
        ],
      );
    },

    /**
     * Single-use rotation; undefined when the token cannot be rotated (inspect to learn why).
     * `heldByEveryUser`: scopes a user has without their record listing them.
     */
    async rotate(
      jti: string,
      now: Date,
      child: { jti: string; kid: string; idleExpiresAt: Date },
      requestedScopes: string[] | null,
      heldByEveryUser: readonly string[] = [],
    ): Promise<SessionGrant | undefined> {
      const [row] = await db.query<GrantRow>(ROTATE, [
        jti,
        now,
        child.jti,
        child.kid,
        child.idleExpiresAt,
        requestedScopes,
        heldByEveryUser,
      ]);
      return row && toGrant(row);
    },

    async inspect(jti: string, now: Date): Promise<RefreshTokenInspection | undefined> {
      const [row] = await db.query<{
        session_id: string;
        user_id: string;
        client_id: string;
        consumed_at: Date | null;
        expired: boolean;
        session_revoked: boolean;
        session_expired: boolean;
        user_disabled: boolean;
        session_scopes: string[];
        user_scopes: string[];
        client_scopes: string[];
      }>(INSPECT, [jti, now]);
      return (
        row && {
          sessionId: row.session_id,
          userId: row.user_id,
          clientId: row.client_id,
          consumedAt: row.consumed_at,
          expired: row.expired,
          sessionRevoked: row.session_revoked,
          sessionExpired: row.session_expired,
          userDisabled: row.user_disabled,
          sessionScopes: row.session_scopes,
          userScopes: row.user_scopes,
          clientScopes: row.client_scopes,
        }
      );
    },

    /** The unspent child of a refresh token, while its session is live and its user enabled. */
    async unspentChild(parentJti: string, now: Date): Promise<SessionGrant | undefined> {
      const [row] = await db.query<GrantRow>(CHILD, [parentJti, now]);
      return row && toGrant(row);
    },

    /** Marks a session revoked; returns its expiry when it was live (undefined if already revoked or unknown). */
    async revoke(sessionId: string, now: Date, reason: string): Promise<Date | undefined> {
      const [row] = await db.query<{ expires_at: Date }>(
        'UPDATE sessions SET revoked_at = $2, revoked_reason = $3 WHERE id = $1 AND revoked_at IS NULL RETURNING expires_at',
        [sessionId, now, reason],
      );
      return row?.expires_at;
    },

    async revokeAllForClient(clientId: string, now: Date, reason: string): Promise<string[]> {
      const rows = await db.query<{ id: string }>(
        'UPDATE sessions SET revoked_at = $2, revoked_reason = $3 WHERE client_id = $1 AND revoked_at IS NULL AND expires_at > $2 RETURNING id',
        [clientId, now, reason],
      );
      return rows.map((r) => r.id);
    },

    /** Revokes the user's sessions except one (the caller's own, after a password change). */
    async revokeOthersForUser(
      userId: string,
      keepSessionId: string | null,
      now: Date,
      reason: string,
    ): Promise<string[]> {
      const rows = await db.query<{ id: string }>(
        `UPDATE sessions SET revoked_at = $3, revoked_reason = $4
         WHERE user_id = $1 AND id IS DISTINCT FROM $2 AND revoked_at IS NULL AND expires_at > $3 RETURNING id`,
        [userId, keepSessionId, now, reason],
      );
      return rows.map((r) => r.id);
    },

    async revokeAllForUser(userId: string, now: Date, reason: string): Promise<string[]> {
      const rows = await db.query<{ id: string }>(
        'UPDATE sessions SET revoked_at = $2, revoked_reason = $3 WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2 RETURNING id',
        [userId, now, reason],
      );
      return rows.map((r) => r.id);
    },
  };
}
