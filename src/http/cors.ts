import type { RequestHandler } from 'express';

/**
 * CORS for the configured first-party origins only (none by default): browsers elsewhere get no
 * CORS headers and cannot read authd's answers. Preflights are answered here.
 */
export function cors(allowedOrigins: readonly string[]): RequestHandler {
  const allowed = new Set(allowedOrigins);
  return (req, res, next) => {
    const origin = req.get('origin');
    if (origin === undefined || !allowed.has(origin)) {
      res.vary('Origin');
      next();
      return;
    }
    res.vary('Origin');
    res.set('Access-Control-Allow-Origin', origin);
    // Cookie-mode web apps on a sibling origin send the refresh cookie with credentials: 'include'.
    res.set('Access-Control-Allow-Credentials', 'true');
    if (req.method === 'OPTIONS' && req.get('access-control-request-method')) {
      res.set({
        'Access-Control-Allow-Methods': 'GET, POST',
        'Access-Control-Allow-Headers': 'Authorization, Content-Type',
        'Access-Control-Max-Age': '600',
      });
      res.status(204).end();
      return;
    }
    next();
  };
}
