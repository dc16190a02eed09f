import express from 'express';
import helmet from 'helmet';
import type { Config } from './config';
import { cors } from './http/cors';
import { discoveryRouter } from './http/discovery';
import { errorHandler, notFound } from './http/error-handler';
import { healthRouter } from './http/health';
import { introspectRouter } from './http/introspect';
import { registerRouter } from './http/register';
import { requestLog } from './http/request-log';
import { revokeRouter } from './http/revoke';
import { tokenRouter } from './http/token';
import type { Services } from './services';

/** The HTTP surface. Every dependency comes in through `services`; nothing lives at module level. */
export function createApp(config: Config, services: Services): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('query parser', 'simple');
  if (config.trustProxy !== false) app.set('trust proxy', parseTrustProxy(config.trustProxy));

  app.use(requestLog(services.logger));
  app.use(services.metrics.middleware());
  app.use(helmet());
  app.use(cors(config.corsOrigins));
  app.use(express.urlencoded({ extended: false, limit: '16kb', parameterLimit: 50 }));
  app.use(express.json({ limit: '16kb', strict: true }));

  app.use(healthRouter(services.readinessChecks));
  app.use(discoveryRouter({
    issuer: config.issuer,
    ring: services.ring,
    jwksMaxAge: config.jwksMaxAge,
    scopesSupported: services.scopesSupported,
  }));
  const { authenticate } = services;
  app.use(tokenRouter({ authenticate, grants: services.grantDeps }));
  app.use(revokeRouter({ authenticate, revocation: services.revocationDeps }));
  app.use(introspectRouter({ authenticate, tokens: services.tokens, revocations: services.revocations }));
  if (config.registration) app.use(registerRouter(services.users));

  app.use(notFound);
  app.use(errorHandler(services.logger));
  return app;
}

/** "true", a hop count, or a comma-separated list of addresses/subnets, as express understands them. */
function parseTrustProxy(value: string): boolean | number | string[] {
  if (value === 'true') return true;
  if (/^\d+$/.test(value)) return Number(value);
  return value.split(',').map((s) => s.trim()).filter(Boolean);
}
