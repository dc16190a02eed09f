import { decodeProtectedHeader, jwtVerify, type JWTPayload } from 'jose';
import { invalidToken, VerifierUnavailableError } from './errors';
import { createKeySet, type KeySet } from './key-set';
import { createMetadata } from './metadata';
import {
  introspectionRevocationCheck, redisRevocationCheck, type IntrospectionOptions, type RedisRevocationOptions, type RevocationCheck,
} from './revocation';
import { RULES, type VerifierReason } from './rules';

export interface VerifierOptions {
  /** authd's AUTHD_ISSUER, e.g. https://auth.example.com. */
  issuer: string;
  /** This service's audience (the aud authd puts in tokens for it). One of them must match. */
  audience: string | string[];
  /** Skip discovery and use this JWKS URL. */
  jwksUri?: string;
  /** Seconds of clock difference tolerated on exp/nbf/iat (default 30). */
  clockToleranceSeconds?: number;
  /** Seconds between JWKS refetches caused by unknown kids (default 30). */
  jwksCooldownSeconds?: number;
  /** Opt-in revocation checks: authd's Redis index, or the introspection endpoint. */
  revocation?: { redis: RedisRevocationOptions['redis']; keyPrefix?: string; failOpen?: boolean } | { introspection: IntrospectionOptions };
  fetch?: typeof fetch;
  /** For tests: the current time in ms. */
  now?: () => number;
}

/** What a verified token says about the caller. */
export interface AuthInfo {
  sub: string;
  clientId: string;
  scopes: string[];
  roles: string[];
  sid: string | undefined;
  claims: JWTPayload;
  token: string;
}

const HEADER_ALLOWLIST: ReadonlySet<string> = new Set(RULES.headerAllowlist);
const ALGORITHMS: readonly string[] = RULES.algorithms;
const STRING_CLAIMS = ['sub', 'jti', 'client_id'] as const;

/** Maps jose's error (its stable code, and for claims the claim and why) to the kit's reason. */
function joseReason(error: unknown): VerifierReason {
  const { code, claim, reason } = error as { code?: string; claim?: string; reason?: string };
  if (code === 'ERR_JWT_EXPIRED') return 'expired';
  if (code === 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED') return 'signature';
  if (code !== 'ERR_JWT_CLAIM_VALIDATION_FAILED') return 'malformed';
  if (reason !== 'check_failed') return 'claims'; // missing, or not of the claim's type
  if (claim === 'iss') return 'issuer';
  if (claim === 'aud') return 'audience';
  if (claim === 'nbf' || claim === 'iat') return 'not_yet_valid';
  return 'claims';
}

const descriptions: Partial<Record<VerifierReason, string>> = {
  too_long: 'The token is too long.',
  malformed: 'The token is malformed.',
  algorithm: 'The token is not signed with RS256.',
  type: 'The token is not an access token.',
  header: 'The token has unexpected header parameters.',
  unknown_key: 'The token is signed by an unknown key.',
  expired: 'The token has expired.',
  revoked: 'The token has been revoked.',
  key_revoked: 'The token has been revoked.',
};

/** The RFC 6750 answer says no more than it did before reasons existed: the rest is "invalid". */
const refuse = (reason: VerifierReason) => invalidToken(reason, descriptions[reason] ?? 'The token is invalid.');

/**
 * Creates a verifier for authd's access tokens: RS256 only, typ at+jwt, the issuer, the audience,
 * exp/nbf/iat with a small tolerance, and optionally authd's revocation store. Framework-free: use
 * it for gRPC, queues or tool calls; `requireAuth` wraps it for Express. A refusal is a BearerError
 * whose `reason` names the rule.
 */
export function createVerifier(options: VerifierOptions) {
  const issuer = options.issuer.replace(/\/+$/, '');
  const doFetch = options.fetch ?? fetch;
  const now = options.now ?? Date.now;
  const tolerance = options.clockToleranceSeconds ?? RULES.clockSkewSeconds;
  const metadata = createMetadata(issuer, doFetch);
  const keySet: KeySet = createKeySet({
    jwksUri: options.jwksUri ?? (() => metadata.field('jwks_uri')),
    cooldownSeconds: options.jwksCooldownSeconds ?? RULES.jwksRefetchCooldownSeconds,
    fetch: doFetch,
    now,
  });
  let revocation: RevocationCheck | undefined;
  if (options.revocation && 'redis' in options.revocation) {
    revocation = redisRevocationCheck(options.revocation);
  } else if (options.revocation && 'introspection' in options.revocation) {
    revocation = introspectionRevocationCheck({ ...options.revocation.introspection, resolveEndpoint: () => metadata.field('introspection_endpoint'), fetch: doFetch, now });
  }

  async function verifyAccessToken(token: string): Promise<AuthInfo> {
    if (token.length > RULES.maxTokenLength) throw refuse('too_long');
    let header;
    try {
      header = decodeProtectedHeader(token);
    } catch {
      throw refuse('malformed');
    }
    if (typeof header.alg !== 'string' || !ALGORITHMS.includes(header.alg)) throw refuse('algorithm');
    if (header.typ !== RULES.typ) throw refuse('type');
    if (Object.keys(header).some((name) => !HEADER_ALLOWLIST.has(name))) throw refuse('header');
    if (typeof header.kid !== 'string') throw refuse('unknown_key');
    let key;
    try {
      key = await keySet.key(header.kid);
    } catch (error) {
      throw new VerifierUnavailableError('the signing keys could not be fetched', { cause: error });
    }
    if (!key) throw refuse('unknown_key');
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, key, {
        algorithms: [...ALGORITHMS],
        typ: RULES.typ,
        issuer,
        audience: options.audience,
        clockTolerance: tolerance,
        currentDate: new Date(now()),
        requiredClaims: [...RULES.requiredClaims],
      }));
    } catch (error) {
      throw refuse(joseReason(error));
    }
    // jose checks iat's type but not that it lies in the past, and not the type of these claims.
    if (Number(payload.iat) > now() / 1000 + tolerance) throw refuse('not_yet_valid');
    if (STRING_CLAIMS.some((claim) => typeof payload[claim] !== 'string')) throw refuse('claims');
    const identity = {
      jti: String(payload.jti),
      sub: String(payload.sub),
      iat: Number(payload.iat),
      exp: Number(payload.exp),
      kid: header.kid,
      ...(typeof payload.sid === 'string' && { sid: payload.sid }),
    };
    const revoked = revocation && (await revocation.revocation(identity, token));
    if (revoked) throw refuse(revoked);
    return {
      sub: identity.sub,
      clientId: String(payload.client_id),
      scopes: typeof payload.scope === 'string' ? payload.scope.split(' ').filter(Boolean) : [],
      roles: Array.isArray(payload.roles) ? payload.roles.filter((r): r is string => typeof r === 'string') : [],
      sid: identity.sid,
      claims: payload,
      token,
    };
  }

  return { verifyAccessToken, keySet };
}

export type Verifier = ReturnType<typeof createVerifier>;
