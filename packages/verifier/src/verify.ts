import type { JWTPayload } from 'jose';
import { toleranceOf, TokenRuleError, verifyTokenRules, type VerifiedToken } from './access-token';
import { invalidToken, VerifierUnavailableError } from './errors';
import { createKeySet, type KeySet } from './key-set';
import { createMetadata } from './metadata';
import {
  introspectionRevocationCheck,
  redisRevocationCheck,
  type IntrospectionOptions,
  type RedisRevocationOptions,
  type RevocationCheck,
} from './revocation';
import { RULES, type VerifierReason } from './rules';

export interface VerifierOptions {
  /** authd's AUTHD_ISSUER, e.g. https://auth.example.com. */
  issuer: string;
  /** This service's audience (the aud authd puts in tokens for it). One of them must match. */
  audience: string | string[];
  /** Skip discovery and use this JWKS URL. */
  jwksUri?: string;
  /** Seconds of clock difference tolerated on exp/nbf/iat/auth_time (default and most: 30, RULES.clockSkewSeconds). */
  clockToleranceSeconds?: number;
  /** Seconds between JWKS refetches caused by unknown kids (default 30). */
  jwksCooldownSeconds?: number;
  /** Opt-in revocation checks: authd's Redis index, or the introspection endpoint. */
  revocation?:
    | { redis: RedisRevocationOptions['redis']; keyPrefix?: string; failOpen?: boolean }
    | { introspection: IntrospectionOptions };
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
  /** RFC 9470 / NIST SP 800-63B level of the login ("aal1", "aal2"); undefined for client_credentials. */
  acr: string | undefined;
  /** RFC 8176 methods of the login (["pwd"], ["pwd","otp","mfa"], ...); [] when the token names none. */
  amr: string[];
  /** When the user last authenticated interactively, in seconds; undefined when the token does not say. */
  authTime: number | undefined;
  claims: JWTPayload;
  token: string;
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
 * exp/nbf/iat with a small tolerance (the rule set of access-token.ts, which the server uses too), and optionally authd's revocation store. Framework-free: use
 * it for gRPC, queues or tool calls; `requireAuth` wraps it for Express. A refusal is a BearerError
 * whose `reason` names the rule.
 */
export function createVerifier(options: VerifierOptions) {
  const issuer = options.issuer.replace(/\/+$/, '');
  const doFetch = options.fetch ?? fetch;
  const now = options.now ?? Date.now;
  const tolerance = toleranceOf(options.clockToleranceSeconds);
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
    revocation = introspectionRevocationCheck({
      ...options.revocation.introspection,
      resolveEndpoint: () => metadata.field('introspection_endpoint'),
      fetch: doFetch,
      now,
    });
  }

  async function verifyAccessToken(token: string): Promise<AuthInfo> {
    let verified: VerifiedToken;
    try {
      verified = await verifyTokenRules(
        token,
        async (kid) => {
          try {
            return await keySet.key(kid);
          } catch (error) {
            throw new VerifierUnavailableError('the signing keys could not be fetched', { cause: error });
          }
        },
        { issuer, audience: options.audience, now: now(), clockToleranceSeconds: tolerance },
      );
    } catch (error) {
      if (error instanceof TokenRuleError) throw refuse(error.code);
      throw error;
    }
    const { payload } = verified;
    const identity = {
      jti: String(payload.jti),
      sub: String(payload.sub),
      iat: Number(payload.iat),
      exp: Number(payload.exp),
      kid: verified.kid,
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
      acr: typeof payload.acr === 'string' ? payload.acr : undefined,
      amr: Array.isArray(payload.amr) ? (payload.amr as string[]) : [],
      authTime: typeof payload.auth_time === 'number' ? payload.auth_time : undefined,
      claims: payload,
      token,
    };
  }

  /** `now` is the verifier's clock, which requireAcr's max_age reads too. */
  return { verifyAccessToken, keySet, now };
}

export type Verifier = ReturnType<typeof createVerifier>;
