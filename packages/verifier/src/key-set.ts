import { importJWK, type JWK } from 'jose';
import { RULES } from './rules';

export interface KeySetOptions {
  /** Where the JWKS lives; a function is resolved lazily (e.g. from discovery). */
  jwksUri: string | (() => Promise<string>);
  /** Used when the response has no max-age. */
  defaultMaxAgeSeconds?: number;
  /** The fewest seconds between refetches caused by an unknown kid. */
  cooldownSeconds?: number;
  timeoutMs?: number;
  fetch?: typeof fetch;
  now?: () => number;
}

type Key = Awaited<ReturnType<typeof importJWK>>;

/**
 * An in-memory JWKS that honours the endpoint's Cache-Control max-age, and refetches on an
 * unknown kid at most once per cooldown, so random kids cannot make a service hammer authd and a
 * key rotation at authd reaches every service without a restart.
 */
export function createKeySet(options: KeySetOptions) {
  const now = options.now ?? Date.now;
  const doFetch = options.fetch ?? fetch;
  const cooldownMs = (options.cooldownSeconds ?? RULES.jwksRefetchCooldownSeconds) * 1000;
  let keys = new Map<string, Key>();
  let expiresAt = 0;
  let lastFetch = -Infinity;
  let inflight: Promise<void> | undefined;

  async function load(): Promise<void> {
    lastFetch = now();
    const uri = typeof options.jwksUri === 'string' ? options.jwksUri : await options.jwksUri();
    const response = await doFetch(uri, {
      signal: AbortSignal.timeout(options.timeoutMs ?? 5000),
      headers: { accept: 'application/json' },
    });
    if (!response.ok) throw new Error(`JWKS fetch failed with ${response.status}`);
    const body = (await response.json()) as { keys?: JWK[] };
    const next = new Map<string, Key>();
    for (const jwk of body.keys ?? []) {
      // RS256 signing keys only: anything else in the set is ignored, never trusted.
      if (
        jwk.kty !== 'RSA' ||
        typeof jwk.kid !== 'string' ||
        (jwk.use !== undefined && jwk.use !== 'sig') ||
        (jwk.alg !== undefined && jwk.alg !== 'RS256')
      )
        continue;
      next.set(jwk.kid, await importJWK({ kty: jwk.kty, n: jwk.n, e: jwk.e }, 'RS256'));
    }
    const maxAge = /max-age=(\d+)/.exec(response.headers.get('cache-control') ?? '')?.[1];
    expiresAt = now() + (maxAge !== undefined ? Number(maxAge) : (options.defaultMaxAgeSeconds ?? 300)) * 1000;
    keys = next;
  }

  function refresh(): Promise<void> {
    inflight ??= load()
      .catch((error) => {
        expiresAt = now() + cooldownMs; // do not retry on every request while authd is unreachable
        throw error;
      })
      .finally(() => {
        inflight = undefined;
      });
    return inflight;
  }

  return {
    /** The key for kid, or undefined when authd does not publish it. */
    async key(kid: string): Promise<Key | undefined> {
      if (now() >= expiresAt) {
        // A stale set is still better than none when authd is briefly unreachable.
        await refresh().catch((error) => {
          if (keys.size === 0) throw error;
        });
      }
      const found = keys.get(kid);
      if (found) return found;
      // A fetch already under way (another request met the same new kid): wait for it.
      if (inflight) {
        await inflight.catch(() => {});
        return keys.get(kid);
      }
      if (now() - lastFetch < cooldownMs) return undefined;
      await refresh();
      return keys.get(kid);
    },
    refresh,
    stats: () => ({ keys: [...keys.keys()], expiresAt, lastFetch }),
  };
}

export type KeySet = ReturnType<typeof createKeySet>;
