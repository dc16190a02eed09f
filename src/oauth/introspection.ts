import type { RevocationStore } from '../revocation/revocation-store';
import { InvalidTokenError } from '../tokens/jwt';
import type { TokenIssuer } from '../tokens/token-issuer';

export type IntrospectionResponse =
  | { active: false }
  | {
    active: true;
    scope: string;
    client_id: string;
    sub: string;
    aud: string | string[];
    iss: string;
    exp: number;
    iat: number;
    jti: string;
    token_type: 'Bearer';
    sid?: string;
    roles?: string[];
  };

/**
 * RFC 7662 for authd's access tokens: active only when the signature, typ, issuer and lifetime
 * hold and nothing revoked it (its jti, its session, or its user's "not before"). Refresh tokens
 * are never active here: a resource server must never accept one.
 */
export async function introspectToken(token: string, deps: { tokens: TokenIssuer; revocations: RevocationStore }): Promise<IntrospectionResponse> {
  let claims;
  try {
    claims = await deps.tokens.verifyAccessToken(token);
  } catch (error) {
    if (error instanceof InvalidTokenError) return { active: false };
    throw error;
  }
  const revoked = await deps.revocations.isRevoked({ jti: claims.jti, sub: claims.sub, iat: claims.iat, ...(claims.sid !== undefined && { sid: claims.sid }) });
  if (revoked) return { active: false };
  return {
    active: true,
    scope: claims.scope,
    client_id: claims.client_id,
    sub: claims.sub,
    aud: claims.aud,
    iss: claims.iss,
    exp: claims.exp,
    iat: claims.iat,
    jti: claims.jti,
    token_type: 'Bearer',
    ...(claims.sid !== undefined && { sid: claims.sid }),
    ...(claims.roles !== undefined && { roles: claims.roles }),
  };
}
