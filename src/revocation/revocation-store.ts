import type { IndexKind } from '@authd/verifier';

/**
 * What has been revoked before its natural expiry. Every entry carries the time after which it can
 * affect no token any more, so the store never grows without bound.
 */
export interface Revocation {
  /**
   * jti: one access token; sid: a whole session (refresh family); user: every token issued before
   * revokedAt; kid: every token signed by a revoked signing key.
   */
  kind: IndexKind;
  subject: string;
  revokedAt: Date;
  expiresAt: Date;
}

export interface TokenIdentity {
  jti: string;
  sid?: string;
  sub: string;
  /** Issued-at, seconds since the epoch. */
  iat: number;
  /** The kid of the key that signed it, checked against revoked keys. */
  kid?: string;
}

export interface RevocationStore {
  /** Durable first (Postgres), then the fast index (Redis), in the same call. */
  revoke(revocations: Revocation[]): Promise<void>;
  isRevoked(token: TokenIdentity): Promise<boolean>;
  /** Readiness: throws when the store cannot answer. */
  ping(): Promise<void>;
  close(): Promise<void>;
}
