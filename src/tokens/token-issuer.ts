import crypto from 'node:crypto';
import type { JWTPayload } from 'jose';
import type { Clock } from '../clock';
import { formatScope } from '../scopes/scope';
import type { RefreshTokenRecord } from '../sessions/session-store';
import { assuranceClaims, type Acr, type Assurance } from '../sessions/assurance';
import { ACCESS_TOKEN_TYPE, MAX_TOKEN_LENGTH, REFRESH_TOKEN_TYPE, verifyJwt } from './jwt';
import { createJwtSigner } from './jwt-signer';
import type { KeyRing } from './key-ring';

export interface AccessTokenInput {
  subject: string;
  clientId: string;
  audience: string;
  scopes: string[];
  roles: string[];
  sessionId?: string;
  ttlSeconds: number;
  /** Claims about the user the client asked for (src/tokens/user-claims.ts); never replace the ones below. */
  userClaims?: Record<string, unknown>;
  /** amr, acr and auth_time of the user's sign-in (src/sessions/assurance.ts); none for client_credentials. */
  assurance?: Assurance;
}

export interface RefreshTokenSubject {
  userId: string;
  clientId: string;
  sessionId: string;
}

export interface RefreshTokenClaims extends RefreshTokenSubject {
  jti: string;
  /** Set when a revoked key signed it (only with acceptRevokedKey): trust nothing but what the database confirms. */
  revokedKid?: string;
}

export interface AccessTokenClaims extends JWTPayload {
  iss: string;
  sub: string;
  aud: string | string[];
  exp: number;
  iat: number;
  jti: string;
  client_id: string;
  scope: string;
  roles?: string[];
  sid?: string;
  amr?: string[];
  acr?: Acr;
  auth_time?: number;
}

/**
 * The audience of refresh tokens: the token endpoint, never a resource server's audience (not
 * even the issuer, the audience of authd's own clients), so a verifier that checks aud but not typ
 * still refuses them.
 */
export const refreshTokenAudience = (issuer: string) => `${issuer}/oauth/token`;

export function createTokenIssuer(deps: { ring: KeyRing; issuer: string; clock: Clock }) {
  const { ring, issuer, clock } = deps;
  const refreshAudience = refreshTokenAudience(issuer);
  const signer = createJwtSigner();

  return {
    /** An RFC 9068 access token. */
    async issueAccessToken(input: AccessTokenInput): Promise<{ token: string; jti: string; expiresIn: number }> {
      const iat = Math.floor(clock.now() / 1000);
      const jti = crypto.randomUUID();
      const claims: JWTPayload = {
        ...input.userClaims,
        iss: issuer,
        sub: input.subject,
        aud: input.audience,
        exp: iat + input.ttlSeconds,
        iat,
        jti,
        client_id: input.clientId,
        scope: formatScope(input.scopes),
        roles: input.roles,
        ...(input.sessionId !== undefined && { sid: input.sessionId }),
        ...(input.assurance && assuranceClaims(input.assurance)),
      };
      const token = await signer.sign(ACCESS_TOKEN_TYPE, claims, ring.signingKey());
      // Verifiers refuse longer tokens: better no token than one that every service rejects.
      if (token.length > MAX_TOKEN_LENGTH)
        throw new Error(
          `the access token would be ${token.length} characters, over the verifiers' limit of ${MAX_TOKEN_LENGTH} (too many roles, scopes or claims)`,
        );
      return { token, jti, expiresIn: input.ttlSeconds };
    },

    /**
     * A refresh token is a JWT whose every field is stored, so signing the same record again with
     * the same key gives the same token (RS256 is deterministic): that is how a retry inside the
     * reuse grace window receives the family's current token without a second copy being kept.
     */
    async signRefreshToken(record: RefreshTokenRecord, subject: RefreshTokenSubject): Promise<string> {
      const stored = ring.key(record.kid);
      const key = stored?.privateKey ? stored : ring.signingKey();
      const claims: JWTPayload = {
        iss: issuer,
        sub: subject.userId,
        aud: refreshAudience,
        exp: Math.floor(record.expiresAt.getTime() / 1000),
        iat: Math.floor(record.issuedAt.getTime() / 1000),
        jti: record.jti,
        client_id: subject.clientId,
        sid: subject.sessionId,
      };
      return signer.sign(REFRESH_TOKEN_TYPE, claims, key);
    },

    /** Signature, typ, issuer, audience and expiry; throws InvalidTokenError. */
    async verifyRefreshToken(token: string, options: { acceptRevokedKey?: boolean } = {}): Promise<RefreshTokenClaims> {
      const { payload, kid, keyRevoked } = await verifyJwt(token, ring, {
        typ: REFRESH_TOKEN_TYPE,
        issuer,
        audience: refreshAudience,
        now: clock.now(),
        requiredClaims: ['sid'],
        acceptRevokedKey: options.acceptRevokedKey,
      });
      return {
        jti: String(payload.jti),
        userId: String(payload.sub),
        clientId: String(payload.client_id),
        sessionId: String(payload.sid),
        ...(keyRevoked && { revokedKid: kid }),
      };
    },

    /** An access token of ours by the kit's rule set (any audience: the caller checks its own); throws InvalidTokenError. */
    async verifyAccessToken(token: string): Promise<AccessTokenClaims> {
      const { payload } = await verifyJwt(token, ring, { typ: ACCESS_TOKEN_TYPE, issuer, now: clock.now() });
      return payload as AccessTokenClaims;
    },

    /** The kid that will sign a token made now. */
    currentKid(): string {
      return ring.signingKey().kid;
    },
  };
}

export type TokenIssuer = ReturnType<typeof createTokenIssuer>;
