import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { BearerError, insufficientScope, missingToken, VerifierUnavailableError } from './errors';
import { createVerifier, type AuthInfo, type Verifier, type VerifierOptions } from './verify';

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Request {
      /** Set by requireAuth: who the bearer token speaks for. */
      auth?: AuthInfo;
    }
  }
}

const quote = (value: string) => `"${value.replace(/["\\]/g, '')}"`;

/** Sends an RFC 6750 §3 answer: the WWW-Authenticate challenge plus a small JSON body. */
export function sendBearerError(res: Response, error: BearerError, realm: string): void {
  const params = [`realm=${quote(realm)}`];
  if (error.code) params.push(`error=${quote(error.code)}`, `error_description=${quote(error.description)}`);
  if (error.scope) params.push(`scope=${quote(error.scope)}`);
  res.status(error.status).set('WWW-Authenticate', `Bearer ${params.join(', ')}`).set('Cache-Control', 'no-store');
  res.json(error.code ? { error: error.code, error_description: error.description } : { error: 'unauthorized', error_description: error.description });
}

/** RFC 6750 §2.1: exactly one "Bearer <token>" Authorization header. */
function bearerToken(req: Request): string | undefined {
  const header = req.headers.authorization;
  if (header === undefined) return undefined;
  const match = /^Bearer +([A-Za-z0-9\-._~+/]+=*)$/i.exec(header.trim());
  if (!match) throw new BearerError('invalid_request', 'The Authorization header must be "Bearer <token>".', 400);
  return match[1];
}

export interface RequireAuthOptions extends VerifierOptions {
  /** The realm named in WWW-Authenticate (default: the audience). */
  realm?: string;
  /** Reuse a verifier (one per process is enough). */
  verifier?: Verifier;
}

function handleFailure(error: unknown, res: Response, next: NextFunction, realm: string): void {
  if (error instanceof BearerError) return sendBearerError(res, error, realm);
  if (error instanceof VerifierUnavailableError) {
    res.status(503).set('Retry-After', '5').json({ error: 'temporarily_unavailable', error_description: 'Token verification is unavailable.' });
    return;
  }
  next(error);
}

/**
 * Express middleware: verifies the bearer token with authd's JWKS (and, opted in, its
 * revocation store) and sets req.auth. 401 with a Bearer challenge otherwise.
 */
export function requireAuth(options: RequireAuthOptions): RequestHandler {
  const verifier = options.verifier ?? createVerifier(options);
  const realm = options.realm ?? (Array.isArray(options.audience) ? options.audience[0] : options.audience);
  return async (req, res, next) => {
    try {
      const token = bearerToken(req);
      if (token === undefined) throw missingToken();
      req.auth = await verifier.verifyAccessToken(token);
      res.locals.authRealm = realm;
      next();
    } catch (error) {
      handleFailure(error, res, next, realm);
    }
  };
}

function requireClaim(pick: (auth: AuthInfo) => string[], needed: string[], failure: () => BearerError): RequestHandler {
  return (req, res, next) => {
    const realm = String(res.locals.authRealm ?? 'authd');
    if (!req.auth) return sendBearerError(res, missingToken(), realm);
    const held = new Set(pick(req.auth));
    if (needed.every((n) => held.has(n))) return next();
    return sendBearerError(res, failure(), realm);
  };
}

/** 403 insufficient_scope unless the token carries every one of these scopes. Use after requireAuth. */
export function requireScope(...scopes: string[]): RequestHandler {
  return requireClaim((auth) => auth.scopes, scopes, () => insufficientScope(scopes));
}

/** 403 unless the token's user has every one of these roles. Use after requireAuth. */
export function requireRole(...roles: string[]): RequestHandler {
  return requireClaim((auth) => auth.roles, roles, () => new BearerError('insufficient_scope', `The caller lacks the role: ${roles.join(' ')}.`, 403));
}

