import { Router, type RequestHandler } from 'express';
import { z } from 'zod';
import { OAuthError } from '../errors';
import { introspectToken } from '../oauth/introspection';
import type { RevocationStore } from '../revocation/revocation-store';
import type { TokenIssuer } from '../tokens/token-issuer';
import type { ClientAuthenticator } from './client-auth';
import { methodNotAllowed } from './error-handler';
import { param, validateParams } from '../oauth/param-schemas';
import { readParams } from './params';
import { noStore } from './no-store';

const schema = z.object({ token: param('token', 16 * 1024), token_type_hint: param('token_type_hint', 64).optional() });

export interface IntrospectDeps {
  authenticate: ClientAuthenticator;
  tokens: TokenIssuer;
  revocations: RevocationStore;
}

/** POST /oauth/introspect (RFC 7662), for confidential clients marked as resource servers (after noStore). */
export function introspectHandler(deps: IntrospectDeps): RequestHandler {
  return async (req, res) => {
    // An over-long token is just not one of ours: RFC 7009 answers 200, RFC 7662 active: false.
    const params = readParams(req, { unboundedParameters: ['token'] });
    const client = await deps.authenticate(req, res, params);
    if (!client.canIntrospect) {
      throw new OAuthError('unauthorized_client', 'The client may not introspect tokens.', {
        status: 403,
        detail: client.id,
      });
    }
    const { token } = validateParams(schema, { token: params.token, token_type_hint: params.token_type_hint });
    res.status(200).json(await introspectToken(token, deps));
  };
}

export function introspectRouter(deps: IntrospectDeps): Router {
  const router = Router();
  router.post('/oauth/introspect', noStore, introspectHandler(deps));
  router.all('/oauth/introspect', methodNotAllowed('POST'));
  return router;
}
