import type { RequestHandler } from 'express';
import helmet from 'helmet';
import type { Config } from '../config';

function helmetFor(config: Config): RequestHandler {
  return helmet({
    contentSecurityPolicy: {
      directives: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'"],
        styleSrc: ["'self'"],
        imgSrc: [
          "'self'",
          'data:',
          ...(config.hostedPages?.logoUrl ? [new URL(config.hostedPages.logoUrl).origin] : []),
        ],
        connectSrc: ["'self'"],
        formAction: ["'self'"],
        frameAncestors: ["'none'"],
        objectSrc: ["'none'"],
        baseUri: ["'none'"],
        // Plain-http localhost development would otherwise have its own assets upgraded to https.
        upgradeInsecureRequests: config.secureCookies ? [] : null,
      },
    },
  }) as unknown as RequestHandler;
}

/**
 * helmet's headers, worked out once: with these options (no per-request directive functions, no
 * nonces) helmet sets the same headers on every response, so they are recorded from one run of its
 * middleware and then only copied onto each response.
 */
export function securityHeaders(config: Config): RequestHandler {
  const headers = new Map<string, string | number | readonly string[]>();
  const recorder = {
    setHeader(name: string, value: string | number | readonly string[]) {
      headers.set(name, value);
    },
    removeHeader(name: string) {
      headers.delete(name);
    },
    getHeader(name: string) {
      return headers.get(name);
    },
  };
  let finished = false;
  helmetFor(config)({ headers: {}, method: 'GET', url: '/' } as never, recorder as never, (error?: unknown) => {
    if (error) throw error;
    finished = true;
  });
  if (!finished) throw new Error('helmet did not finish synchronously: its headers cannot be precomputed');
  const entries = [...headers];
  return (_req, res, next) => {
    // helmet also removes X-Powered-By; express is told not to send it (app.ts).
    for (const [name, value] of entries) res.setHeader(name, value);
    next();
  };
}
