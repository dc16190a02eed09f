import type { AuditLog } from '../audit/audit-log';
import type { Clock } from '../clock';
import type { Logger } from '../logger';
import type { ComposeMail } from './account-mail';
import type { Outbox, OutboxEntry } from './outbox';
import type { MailTransport } from './transport';

export interface RetryPolicy {
  /** Attempts in all; after the last the entry is given up (audited as mail_failed). */
  maxAttempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

// 30 s, 1, 2, 4, 8, 16, 32 min: a mail server back within about an hour still gets the message.
export const DEFAULT_RETRY: RetryPolicy = { maxAttempts: 8, baseDelayMs: 30_000, maxDelayMs: 3600_000 };

/** Exponential backoff with ±20 % jitter, so entries that failed together do not return together. */
export function backoffMs(attempt: number, policy: RetryPolicy, random = Math.random): number {
  const delay = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
  return Math.round(delay * (0.8 + 0.4 * random()));
}

/** How long a done entry stays in the outbox (for a look at what was sent lately); the audit log keeps the record. */
export const MAIL_RETENTION_MS = 7 * 86_400_000;
/** How often a worker removes old entries: once an hour is plenty, and keeps the DELETE off every drain. */
const PRUNE_INTERVAL_MS = 3600_000;

export interface MailWorkerDeps {
  outbox: Outbox;
  compose: ComposeMail;
  transport: MailTransport;
  audit: AuditLog;
  logger: Logger;
  clock: Clock;
  retry?: RetryPolicy;
  /** How often the table is looked at when nothing woke the worker (another instance queued, a retry fell due). */
  pollIntervalMs?: number;
  /** Other housekeeping on the prune schedule (used and expired account tokens). */
  prune?: () => Promise<unknown>;
}

export interface MailWorker {
  /** Sends everything due now; resolves with the number of entries handled. */
  drain(): Promise<number>;
  /** Asks for a drain soon (after a request queued mail); a no-op until started. */
  wake(): void;
  start(): void;
  /** Stops polling and waits for the drain in progress. */
  stop(): Promise<void>;
}

const BATCH = 10;

/** Drains the outbox: compose, send, record; failures go back with a delay, bounded in number. */
export function createMailWorker(deps: MailWorkerDeps): MailWorker {
  const retry = deps.retry ?? DEFAULT_RETRY;
  const pollIntervalMs = deps.pollIntervalMs ?? 5000;
  let running: Promise<number> | undefined;
  let again = false;
  let timer: NodeJS.Timeout | undefined;
  let started = false;
  let prunedAt = Number.NEGATIVE_INFINITY;

  async function handle(entry: OutboxEntry): Promise<void> {
    let userId = entry.userId;
    try {
      const composed = await deps.compose(entry);
      userId = composed.userId;
      if ('skipped' in composed) {
        await deps.outbox.complete(entry.id, composed.skipped);
        deps.audit.record({
          type: 'mail_skipped',
          userId,
          details: { kind: entry.kind, reason: composed.skipped, outbox_id: entry.id },
        });
        return;
      }
      await deps.transport.send(composed.message);
      await deps.outbox.complete(entry.id, 'sent');
      deps.audit.record({
        type: 'mail_sent',
        userId,
        details: { kind: entry.kind, transport: deps.transport.kind, attempts: entry.attempts, outbox_id: entry.id },
      });
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      if (entry.attempts >= retry.maxAttempts) {
        await deps.outbox.giveUp(entry.id, reason);
        deps.audit.record({
          type: 'mail_failed',
          userId,
          details: { kind: entry.kind, attempts: entry.attempts, error: reason, outbox_id: entry.id },
        });
        deps.logger.error(
          { err: error, kind: entry.kind, attempts: entry.attempts },
          'mail given up after the last attempt',
        );
      } else {
        const delay = backoffMs(entry.attempts, retry);
        await deps.outbox.retryLater(entry.id, delay, reason);
        deps.logger.warn(
          { err: error, kind: entry.kind, attempts: entry.attempts, retry_in_ms: delay },
          'mail not sent; will retry',
        );
      }
    }
  }

  /** Entries whose last lease ran out unanswered are given up, as a failed last attempt would be. */
  async function abandonExhausted(): Promise<void> {
    for (const entry of await deps.outbox.abandonExhausted(retry.maxAttempts)) {
      deps.audit.record({
        type: 'mail_failed',
        userId: entry.userId,
        details: { kind: entry.kind, attempts: entry.attempts, error: 'lease expired', outbox_id: entry.id },
      });
      deps.logger.error(
        { kind: entry.kind, attempts: entry.attempts },
        'mail given up: its last attempt never finished',
      );
    }
  }

  async function pruneNow(): Promise<void> {
    const now = deps.clock.now();
    if (now - prunedAt < PRUNE_INTERVAL_MS) return;
    prunedAt = now;
    await deps.outbox.prune(MAIL_RETENTION_MS);
    await deps.prune?.();
  }

  async function drainAll(): Promise<number> {
    await abandonExhausted();
    await pruneNow();
    let handled = 0;
    for (;;) {
      const batch = await deps.outbox.claim(BATCH, retry.maxAttempts);
      if (!batch.length) return handled;
      for (const entry of batch) await handle(entry);
      handled += batch.length;
    }
  }

  function drain(): Promise<number> {
    if (running) {
      // A drain is under way: run once more after it, so what was queued meanwhile is not left.
      again = true;
      return running;
    }
    running = drainAll().finally(() => {
      running = undefined;
      if (again) {
        again = false;
        void drain().catch(() => {});
      }
    });
    return running;
  }

  function tick(): void {
    drain()
      .catch((error) => deps.logger.warn({ err: error }, 'mail outbox drain failed'))
      .finally(() => {
        if (started) timer = setTimeout(tick, pollIntervalMs).unref();
      });
  }

  return {
    drain,
    wake() {
      if (started) drain().catch((error) => deps.logger.warn({ err: error }, 'mail outbox drain failed'));
    },
    start() {
      if (started) return;
      started = true;
      tick();
    },
    async stop() {
      started = false;
      clearTimeout(timer);
      await running?.catch(() => {});
    },
  };
}
