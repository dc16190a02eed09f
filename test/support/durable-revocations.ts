import { CLOCK_SKEW_SECONDS } from '@authd/verifier';
import type { TestStack } from './backends';

/** Verifiers may run this far behind authd's clock, so a revocation outlives its tokens by as much. */
const CLOCK_SKEW_MS = CLOCK_SKEW_SECONDS * 1000;

export interface DurableRevocation {
  kind: string;
  subject: string;
  revokedAt: number;
  expiresAt: number;
}

/**
 * The rows of the revocations table naming these subjects. Every revocation store writes this
 * table before any Redis index, so it is what survives a Redis that lost its data.
 */
export async function durableRevocations(stack: TestStack, ...subjects: string[]): Promise<DurableRevocation[]> {
  const rows = await stack.services.db.query<{ kind: string; subject: string; revoked_at: Date; expires_at: Date }>(
    'SELECT kind, subject, revoked_at, expires_at FROM revocations WHERE subject = ANY($1::text[]) ORDER BY kind, subject',
    [subjects],
  );
  return rows.map((r) => ({
    kind: r.kind,
    subject: r.subject,
    revokedAt: r.revoked_at.getTime(),
    expiresAt: r.expires_at.getTime(),
  }));
}

/**
 * Expects the one durable row revoking `subject`: written at the clock's now, and kept until the
 * last token it can affect has expired plus the clock skew — long enough, and no longer. By default
 * that last token is one issued now with the server's access-token lifetime (a session or a user's
 * not-before); pass an access token's own `exp` (ms) for a single jti.
 */
export async function expectDurableRevocation(
  stack: TestStack,
  kind: 'jti' | 'sid' | 'user',
  subject: string,
  lastExpiryMs = stack.clock.now() + stack.config.accessTokenTtl * 1000,
): Promise<void> {
  expect(await durableRevocations(stack, subject)).toEqual([
    { kind, subject, revokedAt: stack.clock.now(), expiresAt: lastExpiryMs + CLOCK_SKEW_MS },
  ]);
}
