import { decodeProtectedHeader, jwtVerify, type JWTPayload } from 'jose';
import { invalidToken, VerifierUnavailableError } from './errors';
import { createKeySet, type KeySet } from './key-set';
import {
  introspectionRevocationCheck, redisRevocationCheck, type IntrospectionOptions, type RedisRevocationOptions, type RevocationCheck,
} from './revocation';

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

const HEADER_ALLOWLIST = new Set(['alg', 'typ', 'kid']);
const MAX_TOKEN_LENGTH = 8192;

/** Reads authd's metadata once (cached) for jwks_uri and introspection_endpoint. */
function createMetadata(issuer: string, doFetch: typeof fetch) {
  let metadata: Promise<Record<string, unknown>> | undefined;
  const load = async () => {
    const response = await doFetch(`${issuer}/.well-known/oauth-authorization-server`, { signal: AbortSignal.timeout(5000) });
    if (!response.ok) throw new Error(`authd metadata answered ${response.status}`);
    const body = (await response.json()) as Record<string, unknown>;
    if (body.issuer !== issuer) throw new Error(`authd metadata names issuer ${String(body.issuer)}, expected ${issuer}`);
    return body;
  };
  const get = () => {
    metadata ??= load().catch((error) => { metadata = undefined; throw error; });
    return metadata;
  };
  return {
    async field(name: string): Promise<string> {
      const value = (await get())[name];
      if (typeof value !== 'string') throw new Error(`authd metadata has no ${name}`);
      return value;
    },
  };
}

/**
 * Creates a verifier for authd's access tokens: RS256 only, typ at+jwt, the issuer, the audience,
 * exp/nbf with a small tolerance, and optionally authd's revocation store. Framework-free: use it
 * for gRPC, queues or tool calls; `requireAuth` wraps it for Express.
 */
export function createVerifier(options: VerifierOptions) {
  const issuer = options.issuer.replace(/\/+$/, '');
  const doFetch = options.fetch ?? fetch;
  const now = options.now ?? Date.now;
  const metadata = createMetadata(issuer, doFetch);
  const keySet: KeySet = createKeySet({
    jwksUri: options.jwksUri ?? (() => metadata.field('jwks_uri')),
    cooldownSeconds: options.jwksCooldownSeconds ?? 30,
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
    if (token.length > MAX_TOKEN_LENGTH) throw invalidToken('The token is too long.');
    let header;
    try {
      header = decodeProtectedHeader(token);
    } catch {
      throw invalidToken('The token is malformed.');
    }
    if (header.alg !== 'RS256') throw invalidToken('The token is not signed with RS256.');
    if (header.typ !== 'at+jwt') throw invalidToken('The token is not an access token.');
    if (Object.keys(header).some((name) => !HEADER_ALLOWLIST.has(name))) throw invalidToken('The token has unexpected header parameters.');
    if (typeof header.kid !== 'string') throw invalidToken('The token has no key id.');
    let key;
    try {
      key = await keySet.key(header.kid);
    } catch (error) {
      throw new VerifierUnavailableError('the signing keys could not be fetched', { cause: error });
    }
    if (!key) throw invalidToken('The token is signed by an unknown key.');
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, key, {
        algorithms: ['RS256'],
        typ: 'at+jwt',
        issuer,
        audience: options.audience,
        clockTolerance: options.clockToleranceSeconds ?? 30,
        currentDate: new Date(now()),
        requiredClaims: ['exp', 'iat', 'sub', 'jti', 'client_id'],
      }));
    } catch (error) {
      const code = (error as { code?: string }).code;
      throw invalidToken(code === 'ERR_JWT_EXPIRED' ? 'The token has expired.' : 'The token is invalid.');
    }
    const identity = {
      jti: String(payload.jti),
      sub: String(payload.sub),
      iat: Number(payload.iat),
      exp: Number(payload.exp),
      ...(typeof payload.sid === 'string' && { sid: payload.sid }),
    };
    if (revocation && (await revocation.isRevoked(identity, token))) throw invalidToken('The token has been revoked.');
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
