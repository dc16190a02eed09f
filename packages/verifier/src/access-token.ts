import {
  compactVerify,
  decodeJwt,
  decodeProtectedHeader,
  type JWTPayload,
  type KeyInput,
  type ProtectedHeaderParameters,
} from 'jose';
import { CLOCK_SKEW_SECONDS, RULES, type VerifierReason } from './rules';

/** A token that breaks a rule: `code` is the stable reason (spec/verifier-cases.json), `detail` is for logs. */
export class TokenRuleError extends Error {
  constructor(
    readonly code: VerifierReason,
    readonly detail: string,
  ) {
    super(`${code}: ${detail}`);
    this.name = 'TokenRuleError';
  }
}

export interface TokenRuleOptions {
  issuer: string;
  /** One of these must be in aud; undefined accepts any audience (the caller checks its own). */
  audience?: string | readonly string[];
  /** The current time in ms. */
  now: number;
  /** Tolerance on nbf, iat and auth_time lying in the future (default and most: CLOCK_SKEW_SECONDS). */
  clockToleranceSeconds?: number;
  /** Tolerance on exp (default: clockToleranceSeconds); the issuer itself judges expiry by its own clock, with 0. */
  expiryToleranceSeconds?: number;
  /** Default RULES.typ; the server reads its refresh tokens (rt+jwt) with the same rules. */
  typ?: string;
  /** Claims required on top of RULES.requiredClaims. */
  requiredClaims?: readonly string[];
}

export interface VerifiedToken {
  header: ProtectedHeaderParameters;
  payload: JWTPayload;
  kid: string;
}

const ALGORITHMS: readonly string[] = RULES.algorithms;
const BASE64URL = /^[A-Za-z0-9_-]*$/;
const HEADER_ALLOWLIST: ReadonlySet<string> = new Set(RULES.headerAllowlist);

const isString = (v: unknown): v is string => typeof v === 'string' && v !== '';
const isNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const isStringArray = (v: unknown): v is string[] => Array.isArray(v) && v.every((s) => typeof s === 'string');

/** The type each claim must have: required ones (RULES.requiredClaims), and optional ones when present. */
const CLAIM_TYPES: Record<string, (value: unknown) => boolean> = {
  iss: isString,
  sub: isString,
  aud: (v) => isString(v) || (Array.isArray(v) && v.length > 0 && v.every(isString)),
  exp: isNumber,
  iat: isNumber,
  jti: isString,
  client_id: isString,
  nbf: isNumber,
  sid: isString,
  scope: (v) => typeof v === 'string',
  roles: isStringArray,
  // RFC 9470 §4 / RFC 8176: what step-up (requireAcr) reads.
  acr: isString,
  amr: isStringArray,
  auth_time: isNumber,
};

/**
 * The header rules, in the order of the spec's reasons: length cap, a decodable compact JWS,
 * alg RS256, typ at+jwt (RFC 9068 §2.1), no header outside alg/typ/kid (no jku, x5u, jwk, x5c,
 * crit: a token never chooses its own key, RFC 8725 §3.10), and a kid.
 */
export function checkTokenHeader(
  token: string,
  typ: string = RULES.typ,
): { header: ProtectedHeaderParameters; payload: JWTPayload; kid: string } {
  if (token.length > RULES.maxTokenLength) throw new TokenRuleError('too_long', `${token.length} characters`);
  let header: ProtectedHeaderParameters;
  let payload: JWTPayload;
  try {
    const segments = token.split('.');
    // Strict base64url, as every kit decodes it (a length of 4n+1 is no base64 at all).
    if (segments.length !== 3 || segments.some((s) => !BASE64URL.test(s) || s.length % 4 === 1))
      throw new Error('not a compact JWS');
    header = decodeProtectedHeader(token);
    payload = decodeJwt(token);
  } catch (error) {
    throw new TokenRuleError('malformed', (error as Error).message);
  }
  if (typeof header.alg !== 'string' || !ALGORITHMS.includes(header.alg))
    throw new TokenRuleError('algorithm', `alg ${String(header.alg)}`);
  if (header.typ !== typ) throw new TokenRuleError('type', `typ ${String(header.typ)} is not ${typ}`);
  const extra = Object.keys(header).filter((name) => !HEADER_ALLOWLIST.has(name));
  if (extra.length > 0) throw new TokenRuleError('header', `header parameters ${extra.join(', ')}`);
  if (!isString(header.kid)) throw new TokenRuleError('unknown_key', 'no kid');
  return { header, payload, kid: header.kid };
}

/** The claim rules: required claims and every known claim's type, then iss, aud, exp, and nbf/iat/auth_time not in the future. */
export function checkTokenClaims(payload: JWTPayload, options: TokenRuleOptions): void {
  for (const name of [...RULES.requiredClaims, ...(options.requiredClaims ?? [])]) {
    if (!(name in payload)) throw new TokenRuleError('claims', `${name} missing`);
  }
  for (const [name, valid] of Object.entries(CLAIM_TYPES)) {
    if (name in payload && !valid(payload[name])) throw new TokenRuleError('claims', `${name} of the wrong type`);
  }
  if (payload.iss !== options.issuer) throw new TokenRuleError('issuer', `iss ${String(payload.iss)}`);
  if (options.audience !== undefined) {
    const wanted: readonly string[] = typeof options.audience === 'string' ? [options.audience] : options.audience;
    const held = Array.isArray(payload.aud) ? payload.aud : [payload.aud];
    if (!held.some((a) => wanted.includes(String(a))))
      throw new TokenRuleError('audience', `aud ${JSON.stringify(payload.aud)}`);
  }
  const tolerance = toleranceOf(options.clockToleranceSeconds);
  const expiryTolerance =
    options.expiryToleranceSeconds === undefined ? tolerance : toleranceOf(options.expiryToleranceSeconds);
  const now = Math.floor(options.now / 1000);
  if (Number(payload.exp) <= now - expiryTolerance) throw new TokenRuleError('expired', `exp ${String(payload.exp)}`);
  for (const name of ['nbf', 'iat', 'auth_time']) {
    if (name in payload && Number(payload[name]) > now + tolerance)
      throw new TokenRuleError('not_yet_valid', `${name} ${String(payload[name])}`);
  }
}

/** A tolerance between 0 and CLOCK_SKEW_SECONDS: the server keeps revocations only that long past exp. */
export function toleranceOf(seconds: number | undefined): number {
  if (seconds === undefined) return CLOCK_SKEW_SECONDS;
  if (!(seconds >= 0 && seconds <= CLOCK_SKEW_SECONDS)) {
    throw new RangeError(
      `a clock tolerance must lie between 0 and ${CLOCK_SKEW_SECONDS} seconds (authd keeps revocations and retired keys only that long past exp), not ${seconds}`,
    );
  }
  return seconds;
}

/**
 * Every rule of the set: header, then the signature with the key `resolveKey` finds for the kid
 * (undefined: unknown_key; it may throw its own refusal, e.g. key_revoked), then the claims.
 * Throws TokenRuleError; anything resolveKey throws passes through.
 */
export async function verifyTokenRules(
  token: string,
  resolveKey: (kid: string) => Promise<KeyInput | undefined>,
  options: TokenRuleOptions,
): Promise<VerifiedToken> {
  const { header, payload, kid } = checkTokenHeader(token, options.typ);
  const key = await resolveKey(kid);
  if (!key) throw new TokenRuleError('unknown_key', `kid ${kid}`);
  try {
    await compactVerify(token, key, { algorithms: [...ALGORITHMS] });
  } catch (error) {
    throw new TokenRuleError('signature', (error as { code?: string }).code ?? 'the signature does not verify');
  }
  checkTokenClaims(payload, options);
  return { header, payload, kid };
}
