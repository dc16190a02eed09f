import type { ErrorRequestHandler } from 'express';
import { type ApiErrorCode, DomainError, OAuthError } from '../errors';
import { toOAuthError } from './error-handler';

/** The code an error of authd's own APIs answers with when nothing more precise was given. */
function fallbackCode(error: OAuthError): ApiErrorCode {
  if (error.status === 429) return 'too_many_attempts';
  if (error.status === 404) return 'not_found';
  if (error.status === 415) return 'unsupported_media_type';
  switch (error.code) {
    case 'access_denied':
    case 'server_error':
    case 'temporarily_unavailable':
      return error.code;
    default:
      return 'invalid_request';
  }
}

const pathOf = (url: string) => url.split('?', 1)[0] ?? url;

/**
 * For the errors of authd's own APIs (/admin, /account): the error goes on to the one error
 * handler in the usual shape, plus the stable `code` (API_ERROR_CODES) a program can branch on.
 * Bearer-token refusals answer before this, in RFC 6750's shape (their `error` is the code).
 * `except`: path prefixes under the mount that keep the plain OAuth shape.
 */
export function apiErrorCodes(options: { except?: readonly string[] } = {}): ErrorRequestHandler {
  const except = options.except ?? [];
  return (error, req, _res, next) => {
    const path = pathOf(req.originalUrl);
    if (except.some((prefix) => path === prefix || path.startsWith(`${prefix}/`))) return next(error);
    const answer = toOAuthError(error);
    const given = answer.fields.code;
    const code = error instanceof DomainError ? error.code : typeof given === 'string' ? given : fallbackCode(answer);
    next(
      new OAuthError(answer.code, answer.description, {
        status: answer.status,
        headers: answer.headers,
        fields: { ...answer.fields, code },
        ...(answer.detail !== undefined && { detail: answer.detail }),
        cause: answer.cause ?? error,
      }),
    );
  };
}
