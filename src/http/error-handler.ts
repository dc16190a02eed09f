import type { ErrorRequestHandler, RequestHandler } from 'express';
import { DomainError, OAuthError, UnavailableError } from '../errors';
import type { Logger } from '../logger';
import { NoSigningKeyError } from '../tokens/key-ring';
import { CapacityError } from '../users/hash-limiter';
import { bodyParserError } from './params';

const DOMAIN_STATUS = { invalid: 400, conflict: 409, not_found: 404 } as const;

/** Turns any error into the one public shape; the cause goes to the log only. */
export function toOAuthError(error: unknown): OAuthError {
  if (error instanceof OAuthError) return error;
  if (error instanceof DomainError)
    return new OAuthError('invalid_request', error.message, { status: DOMAIN_STATUS[error.kind] });
  if (error instanceof CapacityError) {
    return new OAuthError('temporarily_unavailable', 'The server is busy; try again shortly.', {
      detail: 'password hashing at capacity',
      headers: { 'Retry-After': String(error.retryAfterSeconds) },
    });
  }
  if (error instanceof UnavailableError || error instanceof NoSigningKeyError) {
    return new OAuthError('temporarily_unavailable', 'The service is temporarily unavailable; try again shortly.', {
      cause: error,
      detail: error.message,
      headers: { 'Retry-After': '5' },
    });
  }
  return (
    bodyParserError(error) ??
    new OAuthError('server_error', 'The server could not handle the request.', { cause: error })
  );
}

export function errorHandler(logger: Logger): ErrorRequestHandler {
  return (error, req, res, _next) => {
    const oauthError = toOAuthError(error);
    const level = oauthError.status >= 500 ? 'error' : 'info';
    logger[level](
      {
        request_id: res.locals.requestId,
        path: req.path,
        error: oauthError.code,
        status: oauthError.status,
        detail: oauthError.detail,
        ...(oauthError.status >= 500 && { cause: oauthError.cause ?? error }),
      },
      'request refused',
    );
    res.locals.oauthError = oauthError.code;
    if (res.headersSent) return;
    res
      .status(oauthError.status)
      .set(oauthError.headers)
      .set({ 'Cache-Control': 'no-store', Pragma: 'no-cache' })
      .json(oauthError.toJSON());
  };
}

export const notFound: RequestHandler = (req, _res, next) => {
  next(new OAuthError('invalid_request', 'Not found.', { status: 404, detail: `${req.method} ${req.path}` }));
};

/** For a path that exists with other methods. */
export function methodNotAllowed(allowed: string): RequestHandler {
  return (_req, res, next) => {
    res.set('Allow', allowed);
    next(new OAuthError('invalid_request', `Use ${allowed}.`, { status: 405 }));
  };
}
