import { CLOCK_SKEW_SECONDS } from '@authd/verifier';
import type { Clock } from '../clock';
import type { RevocationStore } from '../revocation/revocation-store';
import type { SessionStore } from './session-store';

/**
 * Ends sessions: marks the family revoked in the database (its refresh tokens stop rotating) and
 * records it in the revocation store until its last access token has expired. Shared by reuse
 * detection, token revocation (RFC 7009), the CLI, and the account and admin APIs.
 */
export function createSessionRevoker(deps: {
  sessions: SessionStore;
  revocations: RevocationStore;
  clock: Clock;
  maxAccessTokenTtl: number;
}) {
  // The last moment an access token issued before now can matter, plus the clock skew verifiers
  // reading the index directly may have (the rule set's, the most a kit tolerates).
  const accessWindow = (now: number) => new Date(now + (deps.maxAccessTokenTtl + CLOCK_SKEW_SECONDS) * 1000);

  async function revokeSessions(ids: string[], now: number): Promise<void> {
    await deps.revocations.revoke(
      ids.map((id) => ({ kind: 'sid' as const, subject: id, revokedAt: new Date(now), expiresAt: accessWindow(now) })),
    );
  }

  return {
    /**
     * Every session of a client (before it is deleted), and its own client_credentials tokens:
     * their subject is the client id, so a "not before" on that subject ends them.
     */
    async revokeClient(clientId: string, reason: string): Promise<string[]> {
      const now = deps.clock.now();
      const ids = await deps.sessions.revokeAllForClient(clientId, new Date(now), reason);
      await revokeSessions(ids, now);
      await deps.revocations.revoke([
        { kind: 'user', subject: clientId, revokedAt: new Date(now), expiresAt: accessWindow(now) },
      ]);
      return ids;
    },

    /** Every session of the user but one: the one that just proved the current password. */
    async revokeOtherSessions(userId: string, keepSessionId: string | null, reason: string): Promise<string[]> {
      const now = deps.clock.now();
      const ids = await deps.sessions.revokeOthersForUser(userId, keepSessionId, new Date(now), reason);
      await revokeSessions(ids, now);
      return ids;
    },

    async revokeSession(sessionId: string, reason: string): Promise<boolean> {
      const now = deps.clock.now();
      const revoked = await deps.sessions.revoke(sessionId, new Date(now), reason);
      await deps.revocations.revoke([
        { kind: 'sid', subject: sessionId, revokedAt: new Date(now), expiresAt: accessWindow(now) },
      ]);
      return revoked !== undefined;
    },

    /**
     * Every access token issued to the user until now, sessions kept: after a demotion the next
     * refresh re-reads the user and issues tokens with what is left.
     */
    async revokeUserAccessTokens(userId: string): Promise<void> {
      const now = deps.clock.now();
      await deps.revocations.revoke([
        { kind: 'user', subject: userId, revokedAt: new Date(now), expiresAt: accessWindow(now) },
      ]);
    },

    /** Every session of the user, and every access token issued to the user until now. */
    async revokeUser(userId: string, reason: string): Promise<string[]> {
      const now = deps.clock.now();
      const ids = await deps.sessions.revokeAllForUser(userId, new Date(now), reason);
      await deps.revocations.revoke([
        { kind: 'user', subject: userId, revokedAt: new Date(now), expiresAt: accessWindow(now) },
        ...ids.map((id) => ({
          kind: 'sid' as const,
          subject: id,
          revokedAt: new Date(now),
          expiresAt: accessWindow(now),
        })),
      ]);
      return ids;
    },
  };
}

export type SessionRevoker = ReturnType<typeof createSessionRevoker>;
