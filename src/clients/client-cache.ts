import type { Clock } from '../clock';
import type { ClientStore, ClientWithDigest } from './client-store';

/**
 * Client records for client authentication, kept for a few seconds: every token request
 * authenticates its client, and the record rarely changes. Changes made through this process
 * (admin API, CLI in-process) invalidate at once; other instances see them within `ttlMs`.
 */
export function createClientCache(
  repository: Pick<ClientStore, 'findById' | 'listScopes'>,
  clock: Clock,
  ttlMs = 5000,
) {
  const entries = new Map<string, { client: ClientWithDigest | undefined; until: number }>();
  let scopeCache: { at: number; scopes: Promise<string[]> } | undefined;
  return {
    async findById(id: string): Promise<ClientWithDigest | undefined> {
      const hit = entries.get(id);
      if (hit && hit.until > clock.now()) return hit.client;
      const client = await repository.findById(id);
      if (entries.size >= 10_000) entries.clear(); // a bound against ids made up by callers
      // Unknown ids are cached too, so guessing ids costs no database round trips.
      entries.set(id, { client, until: clock.now() + ttlMs });
      return client;
    },
    /** The scopes any client may request (the metadata's scopes_supported), read at most every 30 s. */
    scopesSupported(): Promise<string[]> {
      if (!scopeCache || clock.now() - scopeCache.at > 30_000) {
        const scopes = repository.listScopes();
        scopes.catch(() => {
          scopeCache = undefined;
        });
        scopeCache = { at: clock.now(), scopes };
      }
      return scopeCache.scopes;
    },
    invalidate(id?: string): void {
      if (id === undefined) entries.clear();
      else entries.delete(id);
    },
  };
}

export type ClientCache = ReturnType<typeof createClientCache>;
