/**
 * The access-token rule set, the same for every authd verifier: this kit, the Python kit, and the
 * server's own checks (introspection, /admin, /account), which import it from here. The repository
 * keeps the written list in spec/verifier-cases.json; a test checks that these constants equal it,
 * so the kit reads no file at run time wherever it is installed.
 */
export const RULES = {
  algorithms: ['RS256'],
  typ: 'at+jwt',
  headerAllowlist: ['alg', 'typ', 'kid'],
  maxTokenLength: 8192,
  clockSkewSeconds: 30,
  requiredClaims: ['iss', 'sub', 'aud', 'exp', 'iat', 'jti', 'client_id'],
  jwksRefetchCooldownSeconds: 30,
} as const;

/**
 * How far apart two clocks may be: the most a verifier tolerates on exp/nbf/iat/auth_time, and the
 * least the server keeps a revocation entry or a retired key beyond the last exp it covers.
 */
export const CLOCK_SKEW_SECONDS: number = RULES.clockSkewSeconds;

/** RFC 6750 §2.1: `Bearer` and a b64token (the scheme is case-insensitive, RFC 7235 §2.1). */
export const BEARER_AUTHORIZATION = /^Bearer +([A-Za-z0-9\-._~+/]+=*)$/i;

/** Why a request was refused: a stable code for logs, metrics and tests (the server logs it; kits hand it to onError). */
export const REASONS = [
  'missing_token',
  'malformed_header',
  'malformed',
  'too_long',
  'algorithm',
  'type',
  'header',
  'unknown_key',
  'key_revoked',
  'signature',
  'issuer',
  'audience',
  'expired',
  'not_yet_valid',
  'claims',
  'revoked',
  'insufficient_scope',
  'insufficient_role',
  'insufficient_acr',
  'stale_authentication',
  'unavailable',
] as const;

export type VerifierReason = (typeof REASONS)[number];
