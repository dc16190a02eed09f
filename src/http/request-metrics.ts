import type { RequestHandler } from 'express';
import type { Metrics } from '../metrics';

// Endpoints whose requests may fail before express routes them (a malformed or oversized body).
const ROUTED_POSTS = new Set(['/oauth/token', '/oauth/revoke', '/oauth/introspect', '/register']);

/** Counts each request when its answer is sent; `res.locals.grant` and `res.locals.oauthError` label it. */
export function requestMetrics(metrics: Pick<Metrics, 'startRequest'>): RequestHandler {
  return (req, res, next) => {
    const done = metrics.startRequest();
    res.on('finish', () => {
      // Only routed paths become labels: a request refused before routing could otherwise
      // mint a new time series for any path it likes.
      const route = (req.route?.path as string | undefined) ?? (ROUTED_POSTS.has(req.path) ? req.path : 'unmatched');
      const oauthError = res.locals.oauthError ? String(res.locals.oauthError) : undefined;
      done({ route, grant: String(res.locals.grant ?? ''), status: res.statusCode, ...(oauthError && { oauthError }) });
    });
    next();
  };
}
