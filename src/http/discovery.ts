import { Router } from 'express';
import type { KeyRing } from '../tokens/key-ring';
import { CLIENT_AUTH_METHODS } from './client-auth';
import { methodNotAllowed } from './error-handler';

export interface DiscoveryDeps {
  issuer: string;
  ring: KeyRing;
  jwksMaxAge: number;
  /** The grant types the token endpoint serves. */
  grantTypes: readonly string[];
  /** Scopes any client may request; read through a short cache. */
  scopesSupported: () => Promise<string[]>;
}

/** RFC 8414 metadata (also at the OpenID path, where most libraries look first) and the JWKS. */
export function discoveryRouter(deps: DiscoveryDeps): Router {
  const router = Router();

  router.get(['/.well-known/oauth-authorization-server', '/.well-known/openid-configuration'], async (_req, res) => {
    res.set('Cache-Control', 'public, max-age=300').json({
      issuer: deps.issuer,
      token_endpoint: `${deps.issuer}/oauth/token`,
      jwks_uri: `${deps.issuer}/.well-known/jwks.json`,
      grant_types_supported: deps.grantTypes,
      // authd has no authorization endpoint, so it supports no response type.
      response_types_supported: [],
      scopes_supported: await deps.scopesSupported(),
      token_endpoint_auth_methods_supported: CLIENT_AUTH_METHODS,
      revocation_endpoint: `${deps.issuer}/oauth/revoke`,
      revocation_endpoint_auth_methods_supported: CLIENT_AUTH_METHODS,
      introspection_endpoint: `${deps.issuer}/oauth/introspect`,
      // Only confidential clients (resource servers) may introspect.
      introspection_endpoint_auth_methods_supported: CLIENT_AUTH_METHODS.filter((m) => m !== 'none'),
    });
  });

  router.get('/.well-known/jwks.json', (req, res) => {
    const { body, etag } = deps.ring.jwks();
    res.set({ 'Cache-Control': `public, max-age=${deps.jwksMaxAge}`, ETag: etag, 'Content-Type': 'application/json' });
    const candidates = (req.get('if-none-match') ?? '').split(',').map((t) => t.trim().replace(/^W\//, ''));
    if (candidates.includes(etag) || candidates.includes('*')) {
      res.status(304).end();
      return;
    }
    res.status(200).send(body);
  });
  router.all('/.well-known/jwks.json', methodNotAllowed('GET'));
  return router;
}
