import { VerifierUnavailableError } from './errors';
import { EPOCH_KEY, isRevokedByValues, revocationKey, revokedKeyKey } from './redis-keys';

export interface TokenIdentity {
  jti: string;
  sid?: string;
  sub: string;
  iat: number;
  exp: number;
  /** The signing key's id. */
  kid: string;
}

/**
 * Answers "has authd revoked this token?" with the reason, or undefined when it has not; throws
 * VerifierUnavailableError when it cannot tell.
 */
export interface RevocationCheck {
  revocation(token: TokenIdentity, rawToken: string): Promise<'revoked' | 'key_revoked' | undefined>;
}

/** The part of an ioredis client (or any client with the same MGET) the check needs. */
export interface RedisLike {
  mget(...keys: string[]): Promise<Array<string | null>>;
}

export interface RedisRevocationOptions {
  redis: RedisLike;
  /** authd's AUTHD_REDIS_PREFIX ("authd:" by default); leave empty if the client adds it itself. */
  keyPrefix?: string;
  /** When Redis cannot answer (or its index is incomplete): reject the request (default) or let it through. */
  failOpen?: boolean;
}

/**
 * Reads authd's revocation index directly: one MGET for the token's jti, session, user
 * "not before" and signing key, plus the epoch marker that says the index is complete.
 */
export function redisRevocationCheck(options: RedisRevocationOptions): RevocationCheck {
  const prefix = options.keyPrefix ?? 'authd:';
  return {
    async revocation(token) {
      let values: Array<string | null>;
      try {
        values = await options.redis.mget(
          prefix + EPOCH_KEY,
          prefix + revocationKey('jti', token.jti),
          prefix + revocationKey('sid', token.sid ?? '-'),
          prefix + revocationKey('user', token.sub),
          prefix + revokedKeyKey(token.kid),
        );
      } catch (error) {
        if (options.failOpen) return undefined;
        throw new VerifierUnavailableError('the revocation store is unreachable', { cause: error });
      }
      const [epoch, jti, sid, user, kid] = values;
      if (epoch === null) {
        // Redis lost its data and authd has not re-seeded it yet: the answer would be unreliable.
        if (options.failOpen) return undefined;
        throw new VerifierUnavailableError('the revocation index is being rebuilt');
      }
      if (kid !== null && kid !== undefined) return 'key_revoked';
      return isRevokedByValues([jti, sid, user], token.iat, token.sid !== undefined) ? 'revoked' : undefined;
    },
  };
}

export interface IntrospectionOptions {
  /** Defaults to the introspection_endpoint of the issuer's metadata. */
  endpoint?: string;
  clientId: string;
  clientSecret: string;
  /** How long an "active" answer is reused; "inactive" answers are final and cached until exp. */
  cacheSeconds?: number;
  failOpen?: boolean;
  timeoutMs?: number;
}

/** Asks authd's introspection endpoint (RFC 7662), with a short positive cache. */
export function introspectionRevocationCheck(
  options: IntrospectionOptions & { resolveEndpoint: () => Promise<string>; fetch?: typeof fetch; now?: () => number },
): RevocationCheck {
  const now = options.now ?? Date.now;
  const doFetch = options.fetch ?? fetch;
  const cacheMs = (options.cacheSeconds ?? 30) * 1000;
  const cache = new Map<string, { revoked: boolean; until: number }>();
  const authorization =
    'Basic ' + btoa(`${encodeURIComponent(options.clientId)}:${encodeURIComponent(options.clientSecret)}`);

  return {
    async revocation(token, rawToken) {
      const cached = cache.get(token.jti);
      if (cached && cached.until > now()) return cached.revoked ? 'revoked' : undefined;
      let active: boolean;
      try {
        const response = await doFetch(options.endpoint ?? (await options.resolveEndpoint()), {
          method: 'POST',
          headers: { authorization, 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
          body: new URLSearchParams({ token: rawToken, token_type_hint: 'access_token' }).toString(),
          signal: AbortSignal.timeout(options.timeoutMs ?? 3000),
        });
        if (!response.ok) throw new Error(`introspection answered ${response.status}`);
        active = ((await response.json()) as { active?: unknown }).active === true;
      } catch (error) {
        if (options.failOpen) return undefined;
        throw new VerifierUnavailableError('the introspection endpoint is unreachable', { cause: error });
      }
      if (cache.size > 10_000) cache.clear(); // a bound, not an LRU: simple and enough
      // An inactive answer is final: keep it until the token would have expired anyway.
      cache.set(token.jti, { revoked: !active, until: active ? now() + cacheMs : token.exp * 1000 });
      return active ? undefined : 'revoked';
    },
  };
}
