import { Router } from 'express';
import { OAuthError, invalidRequest } from '../errors';
import { introspectToken } from '../oauth/introspection';
import type { RevocationStore } from '../revocation/revocation-store';
import type { TokenIssuer } from '../tokens/token-issuer';
import { authenticateClient } from './client-auth';
import { methodNotAllowed } from './error-handler';
import { readParams } from './params';
import type { ClientEndpointDeps } from './revoke';
import { noStore } from './token';

/** POST /oauth/introspect (RFC 7662), for confidential clients marked as resource servers. */
export function introspectRouter(deps: ClientEndpointDeps & { tokens: TokenIssuer; revocations: RevocationStore }): Router {
  const router = Router();
  router.post('/oauth/introspect', noStore, async (req, res) => {
    const params = readParams(req);
    const { client } = await authenticateClient(req, params, deps.clients, deps.digester);
    if (!client.canIntrospect) {
      throw new OAuthError('unauthorized_client', 'The client may not introspect tokens.', { status: 403, detail: client.id });
    }
    if (!params.token) throw invalidRequest('The token parameter is missing.');
    res.status(200).json(await introspectToken(params.token, deps));
  });
  router.all('/oauth/introspect', methodNotAllowed('POST'));
  return router;
}
