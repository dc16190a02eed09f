/**
 * @authd/verifier: verify authd's access tokens in your services. No server code: jose, and
 * (only if you pass one) your own Redis client.
 *
 *   import { requireAuth, requireScope } from '@authd/verifier';
 *   app.use('/api', requireAuth({ issuer: 'https://auth.example.com', audience: 'https://api.example.com' }));
 *   app.get('/api/orders', requireScope('orders:read'), handler);
 *
 * Anything else (gRPC, queues, tool calls): createVerifier(options).verifyAccessToken(token).
 */
export { createVerifier, type AuthInfo, type Verifier, type VerifierOptions } from './verify';
export {
  requireAuth, requireRole, requireScope, sendBearerError,
  type BearerHandler, type BearerRequest, type BearerResponse, type RefusalHook, type RequireAuthOptions,
} from './express';
export {
  BearerError, insufficientRole, insufficientScope, invalidToken, malformedHeader, missingToken, VerifierUnavailableError, type BearerErrorCode,
} from './errors';
export { createKeySet, type KeySet, type KeySetOptions } from './key-set';
export type { IntrospectionOptions, RedisLike, RedisRevocationOptions, RevocationCheck, TokenIdentity } from './revocation';
export { REASONS, RULES, type VerifierReason } from './rules';
export {
  EPOCH_KEY, isRevokedByValues, issuedBeforeRevocation, revocationKey, revokedKeyKey, type IndexKind, type RevocationKind,
} from './redis-keys';
