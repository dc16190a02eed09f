import { malformedHeader } from './errors';
import { BEARER_AUTHORIZATION } from './rules';

/**
 * RFC 6750 §2.1: the token of a "Bearer <token>" Authorization header; undefined when there is no
 * header or it names another scheme (Basic, ...), which §3.1 answers without an error code. A
 * Bearer header that is not exactly one b64token is a BearerError (400 invalid_request).
 */
export function bearerToken(authorization: string | undefined): string | undefined {
  const header = authorization?.trim();
  if (header === undefined || header === '' || !/^bearer(\s|$)/i.test(header)) return undefined;
  const match = BEARER_AUTHORIZATION.exec(header);
  if (!match) throw malformedHeader();
  return match[1];
}
