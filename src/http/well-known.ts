import crypto from 'node:crypto';
import type { KeyRing } from '../tokens/key-ring';
import { CLIENT_AUTH_METHODS } from './client-auth';

/** An answer serialised once, served as bytes until what it is made of changes. */
export interface PreparedAnswer {
  body: Buffer;
  etag: string;
  cacheControl: string;
}

export interface WellKnownDeps {
  issuer: string;
  ring: KeyRing;
  jwksMaxAge: number;
  grantTypes: readonly string[];
  /** Scopes any client may request; read through a short cache. */
  scopesSupported: () => Promise<string[]>;
}

const strongEtag = (body: Buffer) => `"${crypto.createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`;

/** If-None-Match (RFC 9110 §13.1.2, weak comparison) holds the answer's ETag, or `*`. */
export function matchesEtag(ifNoneMatch: string | undefined, etag: string): boolean {
  if (!ifNoneMatch) return false;
  const candidates = ifNoneMatch.split(',').map((t) => t.trim().replace(/^W\//, ''));
  return candidates.includes(etag) || candidates.includes('*');
}

/**
 * The JWKS and the RFC 8414 metadata as prepared bytes, the same for the express routes and the
 * lean path: the JWKS rebuilt when the ring's published set changes (its ETag is the ring's), the
 * metadata when the supported scopes do.
 */
export function wellKnownAnswers(deps: WellKnownDeps) {
  let jwks: PreparedAnswer | undefined;
  let metadata: (PreparedAnswer & { scopes: string }) | undefined;
  const jwksCacheControl = `public, max-age=${deps.jwksMaxAge}`;

  function metadataDocument(scopes: string[]) {
    return {
      issuer: deps.issuer,
      token_endpoint: `${deps.issuer}/oauth/token`,
      jwks_uri: `${deps.issuer}/.well-known/jwks.json`,
      grant_types_supported: deps.grantTypes,
      // authd has no authorization endpoint, so it supports no response type.
      response_types_supported: [],
      scopes_supported: scopes,
      token_endpoint_auth_methods_supported: CLIENT_AUTH_METHODS,
      revocation_endpoint: `${deps.issuer}/oauth/revoke`,
      revocation_endpoint_auth_methods_supported: CLIENT_AUTH_METHODS,
      introspection_endpoint: `${deps.issuer}/oauth/introspect`,
      // Only confidential clients (resource servers) may introspect.
      introspection_endpoint_auth_methods_supported: CLIENT_AUTH_METHODS.filter((m) => m !== 'none'),
    };
  }

  return {
    jwks(): PreparedAnswer {
      const published = deps.ring.jwks();
      if (jwks?.etag !== published.etag)
        jwks = { body: Buffer.from(published.body), etag: published.etag, cacheControl: jwksCacheControl };
      return jwks;
    },
    async metadata(): Promise<PreparedAnswer> {
      const scopes = await deps.scopesSupported();
      const key = scopes.join(' ');
      if (metadata?.scopes !== key) {
        const body = Buffer.from(JSON.stringify(metadataDocument(scopes)));
        metadata = { body, etag: strongEtag(body), cacheControl: 'public, max-age=300', scopes: key };
      }
      return metadata;
    },
  };
}

export type WellKnownAnswers = ReturnType<typeof wellKnownAnswers>;
