import { Router, type RequestHandler } from 'express';
import type { ClientRepository } from '../clients/client-repository';
import type { ClientSecretDigester } from '../clients/client-secret';
import { OAuthError, invalidRequest, unauthorizedClient } from '../errors';
import { clientCredentialsGrant } from '../oauth/grants/client-credentials';
import type { GrantDeps, GrantHandler } from '../oauth/grants/grant';
import { passwordGrant } from '../oauth/grants/password';
import { refreshTokenGrant } from '../oauth/grants/refresh-token';
import { authenticateClient } from './client-auth';
import { methodNotAllowed } from './error-handler';
import { readParams } from './params';

export const GRANTS: readonly GrantHandler[] = [passwordGrant, refreshTokenGrant, clientCredentialsGrant];
const BY_TYPE = new Map(GRANTS.map((g) => [g.grantType, g]));
const COMMON_PARAMETERS = new Set(['grant_type', 'client_id', 'client_secret']);

export const noStore: RequestHandler = (_req, res, next) => {
  // RFC 6749 §5.1: token responses, errors included, must not be cached.
  res.set({ 'Cache-Control': 'no-store', Pragma: 'no-cache' });
  next();
};

export interface TokenRouteDeps {
  clients: Pick<ClientRepository, 'findById'>;
  digester: ClientSecretDigester;
  grants: GrantDeps;
}

/** POST /oauth/token: noStore → read params → authenticate client → check grant → run grant. */
export function tokenRouter(deps: TokenRouteDeps): Router {
  const router = Router();
  router.post('/oauth/token', noStore, async (req, res) => {
    const params = readParams(req);
    const grantType = params.grant_type;
    const { client } = await authenticateClient(req, params, deps.clients, deps.digester);
    if (grantType === undefined) throw invalidRequest('The grant_type parameter is missing.');
    const grant = BY_TYPE.get(grantType);
    if (!grant) throw new OAuthError('unsupported_grant_type', 'The grant type is not supported.', { detail: grantType.slice(0, 64) });
    if (!(client.grantTypes as string[]).includes(grantType)) {
      throw unauthorizedClient('The client is not allowed to use this grant type.', { detail: `${client.id} lacks ${grantType}` });
    }
    // Only what the grant declares reaches it.
    const relevant: Record<string, string> = Object.create(null);
    for (const name of grant.parameters) if (params[name] !== undefined) relevant[name] = params[name];
    for (const name of COMMON_PARAMETERS) if (params[name] !== undefined) relevant[name] = params[name];
    const response = await grant.handle(
      { params: relevant, client, ip: req.ip ?? null, userAgent: req.get('user-agent')?.slice(0, 512) ?? null },
      deps.grants,
    );
    res.status(200).json(response);
  });
  router.all('/oauth/token', methodNotAllowed('POST'));
  return router;
}
