import express, { type RequestHandler } from 'express';
import { auditScope } from './audit/audit-log';
import { ownApi } from './clients/authd-clients';
import type { Config } from './config';
import { accountRecoveryRouter } from './http/account-recovery';
import { accountRouter } from './http/account-router';
import { apiErrorCodes } from './http/api-error-code';
import { adminRouter, USER_IMPORT_PATH } from './http/admin/admin-router';
import { cors } from './http/cors';
import { openApiDocument } from './http/openapi';
import { pagesRouter } from './http/pages';
import { createClientAuthenticator } from './http/client-auth';
import { createDeviceCookies } from './http/device-cookie';
import { discoveryRouter, JWKS_PATH, jwksHandler, METADATA_PATHS, metadataHandler } from './http/discovery';
import { authdGrants, createGrantRegistry } from './http/grant-registry';
import { errorHandler, notFound } from './http/error-handler';
import { healthRouter } from './http/health';
import { introspectHandler, introspectRouter } from './http/introspect';
import { installLeanPath } from './http/lean-path';
import { registerRouter } from './http/register';
import { requestContext } from './http/request-context';
import { requestMetrics } from './http/request-metrics';
import { requestLog } from './http/request-log';
import { revokeHandler, revokeRouter } from './http/revoke';
import { securityHeaders } from './http/security-headers';
import { noStore } from './http/no-store';
import { tokenHandler, tokenRouter } from './http/token';
import { wellKnownAnswers } from './http/well-known';
import type { Services } from './services';

/** The anonymous /account endpoints (mailed links, a forgotten password): OAuth-style errors, no API code. */
const ACCOUNT_RECOVERY_PATHS = ['/account/password-reset', '/account/email-verification'];

/** The HTTP surface. Every dependency comes in through `services`; nothing lives at module level. */
export function createApp(config: Config, services: Services): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('query parser', 'simple');
  if (config.trustProxy !== false) app.set('trust proxy', config.trustProxy);

  // The middleware every request runs, in order; the lean path runs the same functions.
  const common: RequestHandler[] = [
    requestLog(services.logger),
    (req, res, next) => auditScope.run(requestContext(req, res), next),
    requestMetrics(services.metrics),
    securityHeaders(config),
    cors(config.corsOrigins),
  ];
  for (const handler of common) app.use(handler);
  const form = express.urlencoded({ extended: false, limit: '16kb', parameterLimit: 50 });
  const smallJson = express.json({ limit: '16kb', strict: true });
  app.use(form);
  // A user import batch is larger; its route parses it, after the admin token has been checked.
  app.use((req, res, next) => (req.path === USER_IMPORT_PATH ? next() : smallJson(req, res, next)));

  const grants = createGrantRegistry(authdGrants({ ...services, requireVerifiedEmail: config.requireVerifiedEmail }));
  app.use(healthRouter(services.readinessChecks));
  const wellKnown = wellKnownAnswers({
    issuer: config.issuer,
    ring: services.ring,
    jwksMaxAge: config.jwksMaxAge,
    grantTypes: grants.grantTypes,
    scopesSupported: () => services.clientCache.scopesSupported(),
  });
  app.use(discoveryRouter(wellKnown));
  const authenticate = createClientAuthenticator({
    clients: services.clientCache,
    digester: services.digester,
    audit: services.audit,
  });
  const secureCookies = config.secureCookies;
  const devices = createDeviceCookies(services.deviceNotes, secureCookies);
  const token = { authenticate, registry: grants, lifetimes: services.lifetimes, secureCookies, devices };
  const { tokens, revocations, revoker, sessions, clock, audit } = services;
  const revoke = { authenticate, revocation: { tokens, revocations, revoker, sessions, clock, audit }, secureCookies };
  const introspect = { authenticate, tokens: services.tokens, revocations: services.revocations };
  app.use(tokenRouter(token));
  app.use(revokeRouter(revoke));
  app.use(introspectRouter(introspect));
  const bearer = {
    tokens: services.tokens,
    revocations: services.revocations,
    issuer: config.issuer,
    ownApi: ownApi(config.issuer, config.adminScope),
    clients: services.clientCache,
  };
  if (config.hostedPages) app.use(pagesRouter(config.hostedPages, { recovery: services.recovery !== undefined }));
  // Before the account API: these /account paths are anonymous (a mailed link, a forgotten password).
  if (services.recovery)
    app.use(
      accountRecoveryRouter({
        recovery: services.recovery,
        throttles: services.recoveryThrottles,
        audit: services.audit,
      }),
    );
  app.use(
    accountRouter({
      ...bearer,
      users: services.users,
      sessions: services.sessions,
      revoker: services.revoker,
      throttle: services.throttle,
      audit: services.audit,
      clock: services.clock,
      mfa: services.mfa,
    }),
  );
  app.use(
    adminRouter({
      ...bearer,
      adminScope: config.adminScope,
      users: services.users,
      userImporter: services.userImporter,
      clientService: services.clientService,
      sessions: services.sessions,
      revoker: services.revoker,
      audit: services.audit,
      keys: services.keys,
      clock: services.clock,
      throttle: services.throttle,
      mfa: services.mfa,
    }),
  );
  app.get('/openapi.json', (_req, res) => {
    res.set('Cache-Control', 'public, max-age=300').json(openApiDocument(config.issuer));
  });
  if (config.registration)
    app.use(registerRouter({ users: services.registrationUsers, throttle: services.registrationThrottle }));

  app.use(notFound);
  // authd's own APIs add a stable code to every error; the anonymous recovery endpoints keep the OAuth shape.
  app.use(['/admin', '/account'], apiErrorCodes({ except: ACCOUNT_RECOVERY_PATHS }));
  const onError = errorHandler(services.logger);
  app.use(onError);
  // The OAuth endpoints and the well-known documents skip the router (bench/README.md, "Levers (round 2)").
  const post = (path: string, handler: RequestHandler) => ({
    method: 'POST',
    path,
    routePath: path,
    handlers: [form, smallJson, noStore, handler],
  });
  installLeanPath(
    app,
    common,
    [
      post('/oauth/token', tokenHandler(token)),
      post('/oauth/revoke', revokeHandler(revoke)),
      post('/oauth/introspect', introspectHandler(introspect)),
      { method: 'GET', path: JWKS_PATH, routePath: JWKS_PATH, handlers: [jwksHandler(wellKnown)] },
      ...METADATA_PATHS.map((path) => ({
        method: 'GET',
        path,
        routePath: METADATA_PATHS,
        handlers: [metadataHandler(wellKnown)],
      })),
    ],
    onError,
  );
  return app;
}
