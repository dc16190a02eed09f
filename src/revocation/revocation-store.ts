/**
 * What has been revoked before its natural expiry. Every entry carries the time after which it can
 * affect no token any more, so the store never grows without bound.
 */
export interface Revocation {
  /** jti: one access token; sid: a whole session (refresh family); user: every token issued before revokedAt. */
  kind: 'jti' | 'sid' | 'user';
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
}

export interface RevocationStore {
  /** Durable first (Postgres), then the fast index (Redis), in the same call. */
  revoke(revocations: Revocation[]): Promise<void>;
  isRevoked(token: TokenIdentity): Promise<boolean>;
  close(): Promise<void>;
}

/** A user's not-before counts whole seconds, as iat does: a token from the same second is revoked too. */
export function issuedBeforeRevocation(iatSeconds: number, revokedAtMs: number): boolean {
  return iatSeconds <= Math.floor(revokedAtMs / 1000);
}
