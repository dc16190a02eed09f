/**
 * The access-token rule set, the same for every authd verifier. The repository keeps the written
 * list in spec/verifier-cases.json; a test checks that these constants equal it, so the kit reads
 * no file at run time wherever it is installed.
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

/** Why a request was refused: a stable code for logs and metrics, never sent to the caller. */
export const REASONS = [
  'missing_token', 'malformed_header', 'malformed', 'too_long', 'algorithm', 'type', 'header', 'unknown_key',
  'key_revoked', 'signature', 'issuer', 'audience', 'expired', 'not_yet_valid', 'claims', 'revoked',
  'insufficient_scope', 'insufficient_role', 'unavailable',
] as const;

export type VerifierReason = (typeof REASONS)[number];
