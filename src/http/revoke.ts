import { Router } from 'express';
import type { ClientRepository } from '../clients/client-repository';
import type { ClientSecretDigester } from '../clients/client-secret';
import { invalidRequest } from '../errors';
import { revokeToken, type TokenRevocationDeps } from '../oauth/token-revocation';
import { authenticateClient } from './client-auth';
import { methodNotAllowed } from './error-handler';
import { readParams } from './params';
import { noStore } from './token';

export interface ClientEndpointDeps {
  clients: Pick<ClientRepository, 'findById'>;
  digester: ClientSecretDigester;
}

/** POST /oauth/revoke (RFC 7009): client authentication as at the token endpoint. */
export function revokeRouter(deps: ClientEndpointDeps & { revocation: TokenRevocationDeps }): Router {
  const router = Router();
  router.post('/oauth/revoke', noStore, async (req, res) => {
    const params = readParams(req);
    const { client } = await authenticateClient(req, params, deps.clients, deps.digester);
    if (!params.token) throw invalidRequest('The token parameter is missing.');
    await revokeToken(params.token, params.token_type_hint, client, deps.revocation);
    res.status(200).end();
  });
  router.all('/oauth/revoke', methodNotAllowed('POST'));
  return router;
}
