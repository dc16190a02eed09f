/**
 * authd/verifier: verify authd's access tokens in your services. No server code: jose, and
 * (only if you pass one) your own Redis client.
 *
 *   import { requireAuth, requireScope } from 'authd/verifier';
 *   app.use('/api', requireAuth({ issuer: 'https://auth.example.com', audience: 'https://api.example.com' }));
 *   app.get('/api/orders', requireScope('orders:read'), handler);
 *
 * Anything else (gRPC, queues, tool calls): createVerifier(options).verifyAccessToken(token).
 */
export { createVerifier, type AuthInfo, type Verifier, type VerifierOptions } from './verify';
export { requireAuth, requireRole, requireScope, sendBearerError, type RequireAuthOptions } from './express';
export { BearerError, VerifierUnavailableError, type BearerErrorCode } from './errors';
export { createKeySet, type KeySet } from './key-set';
export type { IntrospectionOptions, RedisLike, RevocationCheck } from './revocation';
