import type request from 'supertest';
import { API_ERROR_CODES } from '../../src/errors';

/**
 * An error answer. authd's own APIs (/admin, /account) add a stable `code` to every error they
 * answer (the one given, or else one of API_ERROR_CODES); bearer refusals (RFC 6750, with their
 * challenge) and the OAuth endpoints carry none.
 */
export function expectError(res: request.Response, status: number, body: Record<string, unknown>): void {
  const { code, ...rest } = res.body as Record<string, unknown>;
  const { code: expectedCode, ...expected } = body;
  expect({ status: res.status, body: rest }).toEqual({ status, body: expected });
  const path = (res as unknown as { req: { path: string } }).req.path;
  const ownApi = /^\/(admin|account)(\/|\?|$)/.test(path) && res.headers['www-authenticate'] === undefined;
  if (!ownApi) expect({ path, code }).toEqual({ path, code: undefined });
  else if (expectedCode !== undefined) expect({ path, code }).toEqual({ path, code: expectedCode });
  else expect(API_ERROR_CODES).toContain(code);
  expect(res.headers['cache-control']).toBe('no-store');
}
