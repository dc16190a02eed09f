import { Router, type RequestHandler } from 'express';
import { z } from 'zod';
import { revokeToken, type TokenRevocationDeps } from '../oauth/token-revocation';
import type { ClientAuthenticator } from './client-auth';
import { methodNotAllowed } from './error-handler';
import { param, validateParams } from '../oauth/param-schemas';
import { readParams } from './params';
import { checkCookieClientOrigin, clearRefreshCookie, readRefreshCookie } from './refresh-cookie';
import { noStore } from './no-store';
import { requestContext } from './request-context';

const schema = z.object({ token: param('token', 16 * 1024), token_type_hint: param('token_type_hint', 64).optional() });

export interface RevokeDeps {
  authenticate: ClientAuthenticator;
  revocation: TokenRevocationDeps;
  secureCookies: boolean;
}

/** POST /oauth/revoke (RFC 7009): client authentication as at the token endpoint (after noStore). */
export function revokeHandler(deps: RevokeDeps): RequestHandler {
  return async (req, res) => {
    // An over-long token is just not one of ours: RFC 7009 answers 200, RFC 7662 active: false.
    const params = readParams(req, { unboundedParameters: ['token'] });
    const client = await deps.authenticate(req, res, params);
    checkCookieClientOrigin(req, client);
    // Logout of a cookie-mode client: the refresh token comes from the cookie, which is cleared.
    const fromCookie = client.cookieMode && params.token === undefined ? readRefreshCookie(req) : undefined;
    if (client.cookieMode) clearRefreshCookie(res, deps.secureCookies);
    if (client.cookieMode && params.token === undefined && fromCookie === undefined) {
      res.status(200).end();
      return;
    }
    const { token, token_type_hint: hint } = validateParams(schema, {
      token: params.token ?? fromCookie,
      token_type_hint: params.token_type_hint,
    });
    await revokeToken(token, hint, client, requestContext(req, res), deps.revocation);
    res.status(200).end();
  };
}

export function revokeRouter(deps: RevokeDeps): Router {
  const router = Router();
  router.post('/oauth/revoke', noStore, revokeHandler(deps));
  router.all('/oauth/revoke', methodNotAllowed('POST'));
  return router;
}
