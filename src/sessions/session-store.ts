import type { Assurance } from './assurance';

/** What a new refresh token row needs; the token itself is a JWT re-creatable from these fields. */
export interface RefreshTokenRecord {
  jti: string;
  kid: string;
  issuedAt: Date;
  expiresAt: Date;
}

export interface NewSession {
  id: string;
  userId: string;
  clientId: string;
  scopes: string[];
  createdAt: Date;
  expiresAt: Date;
  ip: string | null;
  userAgent: string | null;
  firstToken: RefreshTokenRecord;
  /** What the login proved; every token of the session carries it. */
  assurance: Assurance;
}

/** A session with what the token endpoint needs to re-check its user and client. */
export interface SessionGrant {
  sessionId: string;
  userId: string;
  clientId: string;
  sessionScopes: string[];
  userScopes: string[];
  clientScopes: string[];
  roles: string[];
  refreshToken: RefreshTokenRecord;
  assurance: Assurance;
}

/** Why a refresh token could not be rotated, read after the fact. */
export interface RefreshTokenInspection {
  sessionId: string;
  userId: string;
  clientId: string;
  consumedAt: Date | null;
  expired: boolean;
  sessionRevoked: boolean;
  sessionExpired: boolean;
  userDisabled: boolean;
  sessionScopes: string[];
  userScopes: string[];
  clientScopes: string[];
}

/** A session as its owner or an operator sees it. */
export interface SessionSummary {
  id: string;
  clientId: string;
  scopes: string[];
  createdAt: Date;
  lastUsedAt: Date;
  expiresAt: Date;
  revokedAt: Date | null;
  revokedReason: string | null;
  ip: string | null;
  userAgent: string | null;
}

/**
 * Sessions and their refresh tokens. Every backend keeps: rotation is single-use and atomic (one
 * statement consumes the parent and inserts the child, so of two racing requests exactly one
 * rotates), and re-checks session, user and client in that statement, so nothing is consumed
 * when the answer would be an error; revocation is idempotent (revoking an ended session changes
 * nothing and says so); "now" is always the caller's, never the database's clock.
 */
export interface SessionStore {
  /** A user's sessions, newest first (at most 500); live ones only unless includeEnded. */
  listForUser(userId: string, now: Date, includeEnded?: boolean): Promise<SessionSummary[]>;
  /** The session and its first refresh token, in one statement (both or neither). */
  create(session: NewSession): Promise<void>;
  /**
   * Single-use rotation of refresh token `jti` into `child`, with the requested scopes (null: the
   * session's) re-checked against session, user and client; undefined when the token cannot be
   * rotated (consumed, expired, session ended, user disabled, scope not grantable: inspect to
   * learn which). `heldByEveryUser`: scopes a user has without their record listing them.
   */
  rotate(
    jti: string,
    now: Date,
    child: { jti: string; kid: string; idleExpiresAt: Date },
    requestedScopes: string[] | null,
    heldByEveryUser?: readonly string[],
  ): Promise<SessionGrant | undefined>;
  /** What is known about a refresh token, whatever its state; undefined for an unknown jti. */
  inspect(jti: string, now: Date): Promise<RefreshTokenInspection | undefined>;
  /** The unspent child of a refresh token, while its session is live and its user enabled (the reuse grace). */
  unspentChild(parentJti: string, now: Date): Promise<SessionGrant | undefined>;
  /** Marks a session revoked; its expiry when it was live, undefined if already revoked or unknown. */
  revoke(sessionId: string, now: Date, reason: string): Promise<Date | undefined>;
  /** Revokes a client's live sessions in one statement; the ids revoked (none twice). */
  revokeAllForClient(clientId: string, now: Date, reason: string): Promise<string[]>;
  /** Revokes the user's live sessions except one (the caller's own, after a password change). */
  revokeOthersForUser(userId: string, keepSessionId: string | null, now: Date, reason: string): Promise<string[]>;
  /** Revokes every live session of the user in one statement; the ids revoked. */
  revokeAllForUser(userId: string, now: Date, reason: string): Promise<string[]>;
}
