/**
 * @authd/verifier: verify authd's access tokens in your services. No server code: jose, and
 * (only if you pass one) your own Redis client.
 *
 *   import { requireAuth, requireScope } from '@authd/verifier';
 *   app.use('/api', requireAuth({ issuer: 'https://auth.example.com', audience: 'https://api.example.com' }));
 *   app.get('/api/orders', requireScope('orders:read'), handler);
 *   app.post('/api/payouts', requireMfa({ maxAge: 300 }), handler);   // step-up, RFC 9470
 *
 * Anything else (gRPC, queues, tool calls): createVerifier(options).verifyAccessToken(token).
 */
export { createVerifier, type AuthInfo, type Verifier, type VerifierOptions } from './verify';
export {
  requireAcr,
  requireAuth,
  requireMfa,
  requireRole,
  requireScope,
  sendBearerError,
  type BearerHandler,
  type BearerRequest,
  type BearerResponse,
  type RefusalHook,
  type RequireAuthOptions,
} from './express';
export {
  BearerError,
  insufficientRole,
  insufficientScope,
  insufficientUserAuthentication,
  invalidToken,
  malformedHeader,
  missingToken,
  VerifierUnavailableError,
  type BearerErrorCode,
  type StepUpChallenge,
} from './errors';
export { checkAssurance, MFA_ACR, type AcrOptions } from './step-up';
export { bearerToken } from './bearer';
export {
  checkTokenClaims,
  checkTokenHeader,
  toleranceOf,
  TokenRuleError,
  verifyTokenRules,
  type TokenRuleOptions,
  type VerifiedToken,
} from './access-token';
export { createKeySet, type KeySet, type KeySetOptions } from './key-set';
export type {
  IntrospectionOptions,
  RedisLike,
  RedisRevocationOptions,
  RevocationCheck,
  TokenIdentity,
} from './revocation';
export { BEARER_AUTHORIZATION, CLOCK_SKEW_SECONDS, REASONS, RULES, type VerifierReason } from './rules';
export {
  EPOCH_KEY,
  isRevokedByValues,
  issuedBeforeRevocation,
  revocationKey,
  revokedKeyKey,
  type IndexKind,
  type RevocationKind,
} from './redis-keys';
