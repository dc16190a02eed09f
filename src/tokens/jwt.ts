import {
  CLOCK_SKEW_SECONDS,
  checkTokenClaims,
  checkTokenHeader,
  RULES,
  TokenRuleError,
  type VerifierReason,
} from '@authd/verifier';
import type { JWTPayload } from 'jose';
import type crypto from 'node:crypto';
import { verifyRs256 } from './jwt-signer';
import { isWellFormedKid } from './key-files';
import type { KeyRing } from './key-ring';

/**
 * authd's tokens follow the verifier kit's rule set (packages/verifier/src/access-token.ts and
 * spec/verifier-cases.json): one set for the server and every kit.
 */
export const ACCESS_TOKEN_TYPE = RULES.typ; // RFC 9068 §2.1
export const REFRESH_TOKEN_TYPE = 'rt+jwt'; // authd's own, so no resource server takes it for an access token
export const MAX_TOKEN_LENGTH = RULES.maxTokenLength;

/** A token that breaks a rule: `code` is the rule set's stable reason, `reason` the detail for the log. */
export class InvalidTokenError extends Error {
  constructor(
    readonly code: VerifierReason,
    readonly reason: string,
  ) {
    super(`invalid token: ${reason}`);
    this.name = 'InvalidTokenError';
  }
}

export interface VerifyOptions {
  typ: string;
  issuer: string;
  audience?: string;
  /** The current time in ms. */
  now: number;
  /** Claims required on top of the rule set's. */
  requiredClaims?: readonly string[];
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
 * Verifies one of authd's own tokens with the kit's rule set and a key of the ring (a kid of
 * authd's shape). The issuer judges exp by its own clock (no tolerance, stricter than a kit);
 * nbf/iat in the future get the rule set's skew, since instances' clocks differ a little.
 * Anything else is an InvalidTokenError with the rule's code.
 *
 * The steps of the kit's verifyTokenRules, in its order (header, key, signature, claims), with
 * the kit's own header and claim checks; only the signature goes through node:crypto instead of
 * jose (the rule set allows RS256 alone, and checkTokenHeader has refused any other alg).
 */
export async function verifyJwt(token: string, ring: KeyRing, options: VerifyOptions): Promise<VerifiedJwt> {
  let keyRevoked = false;
  const resolveKey = async (kid: string): Promise<crypto.KeyObject | undefined> => {
    if (!isWellFormedKid(kid)) throw new TokenRuleError('unknown_key', 'malformed kid');
    const revokedKey = ring.revokedKey(kid);
    if (revokedKey && !options.acceptRevokedKey) throw new TokenRuleError('key_revoked', `revoked kid ${kid}`);
    keyRevoked = revokedKey !== undefined;
    return revokedKey ?? (await ring.verificationKey(kid));
  };
  try {
    const { payload, kid } = checkTokenHeader(token, options.typ);
    const key = await resolveKey(kid);
    if (!key) throw new TokenRuleError('unknown_key', `kid ${kid}`);
    if (!(await verifyRs256(token, key))) throw new TokenRuleError('signature', 'the signature does not verify');
    checkTokenClaims(payload, {
      typ: options.typ,
      issuer: options.issuer,
      ...(options.audience !== undefined && { audience: options.audience }),
      now: options.now,
      clockToleranceSeconds: CLOCK_SKEW_SECONDS,
      expiryToleranceSeconds: 0,
      ...(options.requiredClaims && { requiredClaims: options.requiredClaims }),
    });
    return { payload, kid, keyRevoked };
  } catch (error) {
    if (error instanceof TokenRuleError) throw new InvalidTokenError(error.code, error.message);
    throw error;
  }
}
