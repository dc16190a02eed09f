import { decodeProtectedHeader, jwtVerify, SignJWT, type JWTPayload } from 'jose';
import type { KeyRing, RingKey } from './key-ring';
import { isWellFormedKid } from './key-files';

export const ACCESS_TOKEN_TYPE = 'at+jwt'; // RFC 9068 §2.1
export const REFRESH_TOKEN_TYPE = 'rt+jwt'; // authd's own, so no resource server takes it for an access token
export const MAX_TOKEN_LENGTH = 8192;

// Headers that would let a token choose its own verification key (RFC 8725 §3.10).
const FORBIDDEN_HEADERS = ['jku', 'x5u', 'jwk', 'x5c', 'crit'];

export async function signJwt(typ: string, claims: JWTPayload, key: RingKey): Promise<string> {
  if (!key.privateKey) throw new Error(`no private key for ${key.kid}`);
  return new SignJWT(claims).setProtectedHeader({ alg: 'RS256', typ, kid: key.kid }).sign(key.privateKey);
}

export class InvalidTokenError extends Error {
  constructor(readonly reason: string) {
    super(`invalid token: ${reason}`);
    this.name = 'InvalidTokenError';
  }
}

export interface VerifyOptions {
  typ: string;
  issuer: string;
  audience?: string;
  currentDate?: Date;
  /** Verify a token of a revoked key too (flagged in the result) instead of refusing it. */
  acceptRevokedKey?: boolean;
}

export interface VerifiedJwt {
  payload: JWTPayload;
  kid: string;
  /** Signed by a revoked key: the signature proves nothing, since the key may be in other hands. */
  keyRevoked: boolean;
}

/**
 * Verifies one of authd's own tokens: RS256 only, a known kid from the ring, the expected typ, no
 * key-carrying headers. Anything else is an InvalidTokenError with the reason for the log.
 */
export async function verifyJwt(token: string, ring: KeyRing, options: VerifyOptions): Promise<VerifiedJwt> {
  if (token.length > MAX_TOKEN_LENGTH) throw new InvalidTokenError('token too long');
  let header;
  try {
    header = decodeProtectedHeader(token);
  } catch {
    throw new InvalidTokenError('malformed token');
  }
  if (header.alg !== 'RS256') throw new InvalidTokenError(`algorithm ${String(header.alg)} not accepted`);
  if (header.typ !== options.typ) throw new InvalidTokenError(`typ ${String(header.typ)} is not ${options.typ}`);
  const forbidden = FORBIDDEN_HEADERS.find((h) => h in header);
  if (forbidden) throw new InvalidTokenError(`header ${forbidden} not accepted`);
  if (typeof header.kid !== 'string' || !isWellFormedKid(header.kid)) throw new InvalidTokenError('malformed kid');
  const kid = header.kid;
  const revokedKey = ring.revokedKey(kid);
  if (revokedKey && !options.acceptRevokedKey) throw new InvalidTokenError('revoked kid');
  const key = revokedKey ?? (await ring.verificationKey(kid));
  if (!key) throw new InvalidTokenError('unknown kid');
  try {
    const { payload } = await jwtVerify(token, key, {
      algorithms: ['RS256'],
      typ: options.typ,
      issuer: options.issuer,
      ...(options.audience !== undefined && { audience: options.audience }),
      ...(options.currentDate && { currentDate: options.currentDate }),
      requiredClaims: ['exp', 'iat', 'jti', 'sub'],
    });
    return { payload, kid, keyRevoked: revokedKey !== undefined };
  } catch (error) {
    throw new InvalidTokenError((error as { code?: string }).code ?? 'verification failed');
  }
}
