import type { Request } from 'express';
import { type OAuthError, invalidRequest } from '../errors';

const FORM = 'application/x-www-form-urlencoded';
const MAX_PARAMETER_LENGTH = 8192;

/**
 * The request's parameters as a plain map of strings, from a form body (RFC 6749) or JSON.
 * Repeated parameters are refused (RFC 6749 §3.2), as are non-string values and oversized ones;
 * the result has no prototype, so "__proto__" or "constructor" are just unknown names.
 */
export function readParams(
  req: Request,
  options: { unboundedParameters?: readonly string[] } = {},
): Record<string, string> {
  const hasBody = req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
  if (!hasBody) return Object.create(null);
  if (!req.is(FORM) && !req.is('application/json')) {
    throw invalidRequest(`The request body must be ${FORM} or application/json.`, { status: 415 });
  }
  const body: unknown = req.body;
  if (body === undefined || body === null) return Object.create(null);
  if (typeof body !== 'object' || Array.isArray(body))
    throw invalidRequest('The request body must be an object of parameters.');
  const params: Record<string, string> = Object.create(null);
  for (const [name, value] of Object.entries(body)) {
    if (Array.isArray(value)) throw invalidRequest(`The ${name.slice(0, 64)} parameter is repeated.`);
    if (typeof value !== 'string') throw invalidRequest(`The ${name.slice(0, 64)} parameter must be a string.`);
    if (value.length > MAX_PARAMETER_LENGTH && !options.unboundedParameters?.includes(name)) {
      throw invalidRequest(`The ${name.slice(0, 64)} parameter is too long.`);
    }
    // RFC 6749 §3.1: parameters sent without a value are treated as omitted.
    if (value !== '') params[name] = value;
  }
  return params;
}

/** Maps body-parser's errors (too large, malformed, bad charset) to the OAuth error shape. */
export function bodyParserError(error: unknown): OAuthError | undefined {
  const err = error as { type?: string; status?: number; expose?: boolean };
  // body-parser marks its client errors with a type; decompression errors only with expose.
  if ((typeof err?.type !== 'string' && err?.expose !== true) || typeof err.status !== 'number' || err.status >= 500)
    return undefined;
  const description: Record<string, string> = {
    'entity.too.large': 'The request body is too large.',
    'entity.parse.failed': 'The request body is malformed.',
    'encoding.unsupported': 'The request body encoding is not supported.',
    'charset.unsupported': 'The request body charset is not supported.',
    'parameters.too.many': 'The request has too many parameters.',
  };
  return invalidRequest(description[err.type ?? ''] ?? 'The request body could not be read.', {
    status: err.status,
    detail: err.type,
  });
}
