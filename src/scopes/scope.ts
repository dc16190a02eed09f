import { invalidRequest } from '../errors';

// RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]+$/;
export const MAX_SCOPE_TOKENS = 50;

export function isScopeToken(value: string): boolean {
  return SCOPE_TOKEN.test(value) && value.length <= 128;
}

/** Parses a space-delimited scope parameter into distinct tokens; malformed input is invalid_request. */
export function parseScope(value: string): string[] {
  const tokens = value.split(' ').filter((t) => t !== '');
  if (tokens.length === 0) throw invalidRequest('The scope parameter is empty.');
  if (tokens.length > MAX_SCOPE_TOKENS) throw invalidRequest('The scope parameter has too many values.');
  if (!tokens.every(isScopeToken)) throw invalidRequest('The scope parameter is malformed.');
  return [...new Set(tokens)];
}

export function formatScope(scopes: readonly string[]): string {
  return scopes.join(' ');
}

export function missingFrom(requested: readonly string[], allowed: readonly string[]): string[] {
  const set = new Set(allowed);
  return requested.filter((s) => !set.has(s));
}

export function intersect(a: readonly string[], b: readonly string[]): string[] {
  const set = new Set(b);
  return a.filter((s) => set.has(s));
}
