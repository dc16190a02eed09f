import crypto from 'node:crypto';
import type { Clock } from '../clock';
import type { Queryable } from '../store/database';

/** What a queued message is about; each kind has its composer (src/mail/account-mail.ts). */
export type MailKind = 'password_reset' | 'email_verification' | 'password_changed' | 'email_changed' | 'mfa_disabled';

export interface OutboxEntry {
  id: string;
  kind: MailKind;
  userId: string | null;
  payload: Record<string, unknown>;
  /** Attempts so far, this one included. */
  attempts: number;
}

interface OutboxRow {
  id: string;
  kind: MailKind;
  user_id: string | null;
  payload: Record<string, unknown>;
  attempts: number;
}

const PRUNE_BATCH = 1000;

/** How long a claimed entry belongs to the instance that claimed it (a crashed worker's entries come back after it). */
export const CLAIM_LEASE_MS = 60_000;

/**
 * The mail queue in the database. `enqueue` is one INSERT, so a request that queues mail does no
 * more work for one outcome than for another; `claim` hands each due entry to one worker only,
 * however many instances drain the same table (FOR UPDATE SKIP LOCKED, then a lease).
 */
export function createOutbox(db: Queryable, clock: Clock) {
  return {
    async enqueue(
      kind: MailKind,
      entry: { userId?: string | null; payload?: Record<string, unknown> },
    ): Promise<string> {
      const id = crypto.randomUUID();
      const now = new Date(clock.now());
      await db.query(
        `INSERT INTO mail_outbox (id, kind, user_id, payload, next_attempt_at, created_at) VALUES ($1, $2, $3, $4, $5, $5)`,
        [id, kind, entry.userId ?? null, JSON.stringify(entry.payload ?? {}), now],
      );
      return id;
    },

    /**
     * Turns an entry that named several accounts into one per account, in one statement: the entry
     * keeps the first (a retry of it then looks up no name again), each other gets a new entry due now.
     */
    async split(id: string, userId: string, others: string[]): Promise<void> {
      await db.query(
        `WITH kept AS (UPDATE mail_outbox SET user_id = $2 WHERE id = $1 RETURNING kind)
         INSERT INTO mail_outbox (id, kind, user_id, payload, next_attempt_at, created_at)
         SELECT o.id, kept.kind, o.user_id, '{}', $5, $5 FROM kept, unnest($3::uuid[], $4::uuid[]) AS o (id, user_id)`,
        [id, userId, others.map(() => crypto.randomUUID()), others, new Date(clock.now())],
      );
    },

    /** Due entries that have attempts left; each claim counts as an attempt, answered or not. */
    async claim(limit: number, maxAttempts: number): Promise<OutboxEntry[]> {
      const now = clock.now();
      const rows = await db.query<OutboxRow>(
        `UPDATE mail_outbox SET locked_until = $2, attempts = attempts + 1
          WHERE id IN (SELECT id FROM mail_outbox
                        WHERE done_at IS NULL AND next_attempt_at <= $1 AND (locked_until IS NULL OR locked_until <= $1)
                          AND attempts < $4
                        ORDER BY next_attempt_at LIMIT $3 FOR UPDATE SKIP LOCKED)
          RETURNING id, kind, user_id, payload, attempts`,
        [new Date(now), new Date(now + CLAIM_LEASE_MS), limit, maxAttempts],
      );
      return rows.map((r) => ({ id: r.id, kind: r.kind, userId: r.user_id, payload: r.payload, attempts: r.attempts }));
    },

    /** Done: sent, or nothing to send (`outcome` says which). The payload is dropped. */
    async complete(id: string, outcome: string): Promise<void> {
      await db.query(
        `UPDATE mail_outbox SET done_at = $2, outcome = $3, payload = '{}', locked_until = NULL, last_error = NULL WHERE id = $1`,
        [id, new Date(clock.now()), outcome],
      );
    },

    async retryLater(id: string, delayMs: number, error: string): Promise<void> {
      await db.query(
        `UPDATE mail_outbox SET next_attempt_at = $2, locked_until = NULL, last_error = $3 WHERE id = $1`,
        [id, new Date(clock.now() + delayMs), error.slice(0, 500)],
      );
    },

    async giveUp(id: string, error: string): Promise<void> {
      await db.query(
        `UPDATE mail_outbox SET done_at = $2, outcome = 'failed', payload = '{}', locked_until = NULL, last_error = $3 WHERE id = $1`,
        [id, new Date(clock.now()), error.slice(0, 500)],
      );
    },

    /**
     * Gives up the entries whose every attempt was claimed and never answered: the instance that
     * held the last lease died on it (a message that crashes the worker must not be taken forever).
     */
    async abandonExhausted(maxAttempts: number): Promise<OutboxEntry[]> {
      const now = new Date(clock.now());
      const rows = await db.query<OutboxRow>(
        `UPDATE mail_outbox SET done_at = $1, outcome = 'failed', payload = '{}', locked_until = NULL,
                last_error = 'lease expired'
          WHERE done_at IS NULL AND attempts >= $2 AND locked_until IS NOT NULL AND locked_until <= $1
          RETURNING id, kind, user_id, payload, attempts`,
        [now, maxAttempts],
      );
      return rows.map((r) => ({ id: r.id, kind: r.kind, userId: r.user_id, payload: r.payload, attempts: r.attempts }));
    },

    /**
     * Deletes entries done more than `retentionMs` ago (each send is in the audit log), in batches
     * so that a long backlog never becomes one huge statement; returns how many.
     */
    async prune(retentionMs: number): Promise<number> {
      const before = new Date(clock.now() - retentionMs);
      let deleted = 0;
      for (;;) {
        const rows = await db.query(
          `DELETE FROM mail_outbox WHERE id IN
             (SELECT id FROM mail_outbox WHERE done_at IS NOT NULL AND done_at <= $1 LIMIT $2) RETURNING 1`,
          [before, PRUNE_BATCH],
        );
        deleted += rows.length;
        if (rows.length < PRUNE_BATCH) return deleted;
      }
    },

    /** Entries not yet done, for the readiness check and the tests. */
    async pending(): Promise<number> {
      const [row] = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM mail_outbox WHERE done_at IS NULL');
      return row.n;
    },
  };
}

export type Outbox = ReturnType<typeof createOutbox>;
