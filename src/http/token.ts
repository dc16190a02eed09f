import { Router, type RequestHandler } from 'express';
import { OAuthError, unauthorizedClient } from '../errors';
import { lifetimesFor, type Lifetimes } from '../oauth/grants/grant';
import { MFA_OTP_GRANT } from '../oauth/grants/mfa-otp';
import { throttleName } from '../oauth/grants/password';
import { declaredParameters, param, validateParams } from '../oauth/param-schemas';
import type { ClientAuthenticator } from './client-auth';
import type { DeviceCookies } from './device-cookie';
import { methodNotAllowed } from './error-handler';
import type { GrantRegistry } from './grant-registry';
import { noStore } from './no-store';
import { readParams } from './params';
import { checkCookieClientOrigin, readRefreshCookie, setRefreshCookie } from './refresh-cookie';
import { requestContext } from './request-context';

const GRANT_TYPE = param('grant_type', 256);

export interface TokenRouteDeps {
  authenticate: ClientAuthenticator;
  registry: GrantRegistry;
  /** The server's lifetimes: a cookie-mode refresh token's cookie lives as long as its session may. */
  lifetimes: Lifetimes;
  secureCookies: boolean;
  devices: DeviceCookies;
}

/** POST /oauth/token: read params → authenticate client → check grant → validate → run grant (after noStore). */
export function tokenHandler(deps: TokenRouteDeps): RequestHandler {
  return async (req, res) => {
    const params = readParams(req);
    const client = await deps.authenticate(req, res, params);
    checkCookieClientOrigin(req, client);
    const grantType = validateParams(GRANT_TYPE, params.grant_type as string);
    const grant = deps.registry.find(grantType);
    if (!grant)
      throw new OAuthError('unsupported_grant_type', 'The grant type is not supported.', {
        detail: grantType.slice(0, 64),
      });
    res.locals.grant = grantType;
    // The MFA step is the second half of a password sign-in: a client allowed one may finish it.
    const allowedAs = grantType === MFA_OTP_GRANT ? 'password' : grantType;
    if (!(client.grantTypes as string[]).includes(allowedAs)) {
      throw unauthorizedClient('The client is not allowed to use this grant type.', {
        detail: `${client.id} lacks ${grantType}`,
      });
    }
    // Only what the grant declares reaches it, validated by its schema.
    const declared: Record<string, string> = Object.create(null);
    for (const name of declaredParameters(grant.schema)) if (params[name] !== undefined) declared[name] = params[name];
    const cookieToken =
      client.cookieMode && grantType === 'refresh_token' && declared.refresh_token === undefined
        ? readRefreshCookie(req)
        : undefined;
    if (cookieToken !== undefined) declared.refresh_token = cookieToken;
    const validated = validateParams(grant.schema, declared);
    const deviceUser = grantType === 'password' ? throttleName(declared.username) : undefined;
    const trustedDevice = deviceUser !== undefined && deps.devices.vouchesFor(req, deviceUser);
    const device = {
      vouchesFor: (username: string) => deps.devices.vouchesFor(req, username),
      signedIn: (username: string) => {
        if (client.cookieMode) deps.devices.remember(req, res, username);
      },
    };
    const response = await grant.handle({
      params: validated,
      client,
      context: requestContext(req, res),
      trustedDevice,
      device,
    });
    // A browser that signed in is a known device from now on (see the login throttle).
    if (client.cookieMode && deviceUser !== undefined) deps.devices.remember(req, res, deviceUser);
    if (client.cookieMode && response.refresh_token !== undefined) {
      // Cookie mode: the refresh token never reaches JavaScript.
      const { refresh_token: refreshToken, ...body } = response;
      setRefreshCookie(res, refreshToken, lifetimesFor(client, deps.lifetimes).refreshAbsoluteTtl, deps.secureCookies);
      res.status(200).json(body);
      return;
    }
    res.status(200).json(response);
  };
}

export function tokenRouter(deps: TokenRouteDeps): Router {
  const router = Router();
  router.post('/oauth/token', noStore, tokenHandler(deps));
  router.all('/oauth/token', methodNotAllowed('POST'));
  return router;
}
