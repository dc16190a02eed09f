import { decodeProtectedHeader } from 'jose';
import type { RevocationStore, TokenIdentity } from '../revocation/revocation-store';
import { InvalidTokenError } from '../tokens/jwt';
import type { AccessTokenClaims, TokenIssuer } from '../tokens/token-issuer';
import { extraClaimsOf } from '../tokens/user-claims';

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
      /** The claims about the user the token carries (preferred_username, email, metadata keys). */
      [claim: string]: unknown;
    };

const CORE_CLAIMS: ReadonlySet<string> = new Set([
  'iss',
  'sub',
  'aud',
  'exp',
  'nbf',
  'iat',
  'jti',
  'client_id',
  'scope',
  'roles',
  'sid',
  'active',
  'token_type',
  'amr',
  'acr',
  'auth_time',
]);

/** What the revocation store checks of a verified access token: its jti, session, user and signing key. */
export function revocationIdentity(token: string, claims: AccessTokenClaims): TokenIdentity {
  const { kid } = decodeProtectedHeader(token);
  return {
    jti: claims.jti,
    sub: claims.sub,
    iat: claims.iat,
    ...(claims.sid !== undefined && { sid: claims.sid }),
    ...(kid !== undefined && { kid }),
  };
}

/**
 * RFC 7662 for authd's access tokens: active only when the signature, typ, issuer and lifetime
 * hold and nothing revoked it (its jti, its session, its user's "not before", or its key). Refresh tokens
 * are never active here: a resource server must never accept one.
 */
export async function introspectToken(
  token: string,
  deps: { tokens: TokenIssuer; revocations: RevocationStore },
): Promise<IntrospectionResponse> {
  let claims: AccessTokenClaims;
  try {
    claims = await deps.tokens.verifyAccessToken(token);
  } catch (error) {
    if (error instanceof InvalidTokenError) return { active: false };
    throw error;
  }
  const revoked = await deps.revocations.isRevoked(revocationIdentity(token, claims));
  if (revoked) return { active: false };
  return {
    ...extraClaimsOf(claims, CORE_CLAIMS),
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
    ...(claims.amr !== undefined && { amr: claims.amr }),
    ...(claims.acr !== undefined && { acr: claims.acr }),
    ...(claims.auth_time !== undefined && { auth_time: claims.auth_time }),
  };
}
