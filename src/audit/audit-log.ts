import { AsyncLocalStorage } from 'node:async_hooks';
import type { Clock } from '../clock';
import type { Logger } from '../logger';
import type { Queryable } from '../store/database';
import { sanitizeEvent } from './audit-sanitize';

export const AUDIT_EVENT_TYPES = [
  'login_succeeded',
  'login_failed',
  'login_throttled',
  'token_refreshed',
  'refresh_token_reused_in_grace',
  'refresh_token_reuse_detected',
  'client_credentials_granted',
  'client_authentication_failed',
  'access_token_revoked',
  'session_revoked',
  'user_sessions_revoked',
  'user_created',
  'user_password_changed',
  'user_roles_changed',
  'user_scopes_changed',
  'user_disabled',
  'user_enabled',
  'user_unlocked',
  'user_deleted',
  'users_imported',
  'user_metadata_changed',
  'user_email_changed',
  'user_email_verified',
  'user_password_reset',
  'client_created',
  'client_updated',
  'client_secret_rotated',
  'client_deleted',
  'mail_sent',
  'mail_skipped',
  'mail_failed',
  'recovery_throttled',
  'key_rotated',
  'key_retired',
  'key_revoked',
  'refresh_token_of_revoked_key',
  'login_mfa_required',
  'mfa_enabled',
  'mfa_disabled',
  'mfa_reset',
  'mfa_recovery_code_used',
  'mfa_recovery_codes_regenerated',
  'mfa_failed',
] as const;
export type AuditEventType = (typeof AUDIT_EVENT_TYPES)[number];

/** Who and where a request came from, carried from the HTTP edge into the domain. */
export interface RequestContext {
  ip: string | null;
  userAgent: string | null;
  requestId: string | null;
}

/**
 * The request being served, so events recorded deep in a service (a user created through the
 * admin API) carry its IP, user agent, request id and the acting user without threading them
 * through every call. `actor` is the subject of the bearer token, when there is one.
 */
export const auditScope = new AsyncLocalStorage<RequestContext & { actor?: string }>();

export interface AuditEvent {
  type: AuditEventType;
  userId?: string | null;
  clientId?: string | null;
  context?: RequestContext;
  /** Reasons and identifiers; never a password, a secret or a token. */
  details?: Record<string, unknown>;
}

export interface AuditRecord {
  id: string;
  occurredAt: Date;
  type: AuditEventType;
  userId: string | null;
  clientId: string | null;
  ip: string | null;
  userAgent: string | null;
  requestId: string | null;
  details: Record<string, unknown>;
}

export interface AuditQuery {
  userId?: string;
  types?: string[];
  since?: Date;
  until?: Date;
  limit?: number;
  /** Only events with an id below this (paging backwards). */
  before?: string;
}

/** The events not yet written, for the metrics and the readiness check. */
export interface AuditBacklog {
  pending: number;
  /** Age of the oldest pending event; 0 when none is pending. */
  oldestPendingMs: number;
  /** Flushes that failed (the events were kept for the next one). */
  writeFailures: number;
  /** Events the database refused as bad data, or pushed out of a full buffer. */
  dropped: number;
}

export interface AuditLog {
  /**
   * Queues the event (it is written within the flush interval) and logs it, with control
   * characters escaped in every string. Never throws.
   */
  record(event: AuditEvent): void;
  flush(): Promise<void>;
  backlog(): AuditBacklog;
  /** Throws while the backlog is past its limits (the readiness check calls it). */
  checkBacklog(): void;
  query(filter: AuditQuery): Promise<AuditRecord[]>;
  close(): Promise<void>;
}

const MAX_BUFFERED = 10_000;

type Entry = AuditEvent & { at: Date };

/** SQLSTATE class 22, data exception: this data will never be accepted, however often it is retried. */
const isBadData = (error: unknown) => /^22/.test(String((error as { code?: unknown } | null)?.code ?? ''));

export interface BacklogLimits {
  events: number;
  ageMs: number;
}
const DEFAULT_BACKLOG_LIMITS: BacklogLimits = { events: 1000, ageMs: 30_000 };

/**
 * Events are written in batches (one INSERT per flush interval) so the audit trail costs the
 * token endpoint no extra round trip. The price: events of the last interval are lost if the
 * process is killed outright; a clean shutdown flushes them.
 */
export function createAuditLog(deps: {
  db: Queryable;
  clock: Clock;
  logger: Logger;
  flushIntervalMs?: number;
  onEvent?: (e: AuditEvent) => void;
  backlogLimits?: BacklogLimits;
}): AuditLog {
  const { db, clock, logger } = deps;
  const interval = deps.flushIntervalMs ?? 200;
  const limits = deps.backlogLimits ?? DEFAULT_BACKLOG_LIMITS;
  let buffer: Entry[] = [];
  let timer: NodeJS.Timeout | undefined;
  let flushing: Promise<void> = Promise.resolve();
  let writeFailures = 0;
  let dropped = 0;

  async function write(batch: Entry[]): Promise<void> {
    await db.query(
      `INSERT INTO audit_events (occurred_at, type, user_id, client_id, ip, user_agent, request_id, details)
       SELECT * FROM unnest($1::timestamptz[], $2::text[], $3::uuid[], $4::text[], $5::text[], $6::text[], $7::text[], $8::jsonb[])`,
      [
        batch.map((e) => e.at),
        batch.map((e) => e.type),
        batch.map((e) => e.userId ?? null),
        batch.map((e) => e.clientId ?? null),
        batch.map((e) => e.context?.ip ?? null),
        batch.map((e) => e.context?.userAgent ?? null),
        batch.map((e) => e.context?.requestId ?? null),
        batch.map((e) => JSON.stringify(e.details ?? {})),
      ],
    );
  }

  /**
   * Writes a batch. When the database refuses it as bad data, one row is poisoning it: the rows go
   * one by one and only the refused ones are dropped (and logged), so one hostile request cannot
   * hold up the trail. Returns the events still to write after any other error.
   */
  async function persist(batch: Entry[]): Promise<{ unwritten: Entry[]; error?: unknown }> {
    try {
      await write(batch);
      return { unwritten: [] };
    } catch (error) {
      if (!isBadData(error)) return { unwritten: batch, error };
    }
    for (const [i, event] of batch.entries()) {
      try {
        await write([event]);
      } catch (error) {
        if (!isBadData(error)) return { unwritten: batch.slice(i), error };
        dropped++;
        logger.error(
          {
            err: error,
            audit: event.type,
            user_id: event.userId,
            client_id: event.clientId,
            request_id: event.context?.requestId,
          },
          'audit event refused by the database as bad data; dropped',
        );
      }
    }
    return { unwritten: [] };
  }

  function flush(): Promise<void> {
    if (timer) clearTimeout(timer);
    timer = undefined;
    flushing = flushing.then(async () => {
      if (buffer.length === 0) return;
      const batch = buffer;
      buffer = [];
      const { unwritten, error } = await persist(batch);
      if (unwritten.length) {
        writeFailures++;
        // Keep the events for the next flush (the database may be back), within a bound.
        const kept = [...unwritten, ...buffer];
        dropped += Math.max(0, kept.length - MAX_BUFFERED);
        buffer = kept.slice(-MAX_BUFFERED);
        logger.error({ err: error, pending: buffer.length }, 'audit events could not be written; retrying');
        timer ??= setTimeout(() => void flush(), Math.max(interval, 1000));
        timer.unref();
      }
    });
    return flushing;
  }

  function backlog(): AuditBacklog {
    return {
      pending: buffer.length,
      oldestPendingMs: buffer.length ? Math.max(0, clock.now() - buffer[0].at.getTime()) : 0,
      writeFailures,
      dropped,
    };
  }

  return {
    record(given) {
      const scope = auditScope.getStore();
      const event = sanitizeEvent(
        scope
          ? {
              ...given,
              context: given.context ?? scope,
              details: { ...(scope.actor !== undefined && { actor: scope.actor }), ...given.details },
            }
          : given,
      );
      buffer.push({ ...event, at: new Date(clock.now()) });
      if (buffer.length > MAX_BUFFERED) {
        buffer.shift();
        dropped++;
      }
      logger.info(
        {
          audit: event.type,
          user_id: event.userId,
          client_id: event.clientId,
          request_id: event.context?.requestId,
          ...event.details,
        },
        event.type,
      );
      deps.onEvent?.(event);
      if (buffer.length >= 500) void flush();
      else if (!timer) {
        timer = setTimeout(() => void flush(), interval);
        timer.unref();
      }
    },
    flush,
    backlog,
    checkBacklog() {
      const { pending, oldestPendingMs } = backlog();
      if (pending >= limits.events || oldestPendingMs >= limits.ageMs) {
        throw new Error(
          `audit backlog: ${pending} events pending, the oldest for ${Math.round(oldestPendingMs / 1000)} s`,
        );
      }
    },
    async query(filter) {
      await flush();
      const rows = await db.query<{
        id: string;
        occurred_at: Date;
        type: AuditEventType;
        user_id: string | null;
        client_id: string | null;
        ip: string | null;
        user_agent: string | null;
        request_id: string | null;
        details: Record<string, unknown>;
      }>(
        `SELECT id::text, occurred_at, type, user_id, client_id, ip, user_agent, request_id, details FROM audit_events
         WHERE ($1::uuid IS NULL OR user_id = $1) AND ($2::text[] IS NULL OR type = ANY($2))
           AND ($3::timestamptz IS NULL OR occurred_at >= $3) AND ($4::timestamptz IS NULL OR occurred_at < $4)
           AND ($5::bigint IS NULL OR id < $5)
         ORDER BY audit_events.id DESC LIMIT $6`,
        [
          filter.userId ?? null,
          filter.types?.length ? filter.types : null,
          filter.since ?? null,
          filter.until ?? null,
          filter.before ?? null,
          Math.min(filter.limit ?? 100, 1000),
        ],
      );
      return rows.map((r) => ({
        id: r.id,
        occurredAt: r.occurred_at,
        type: r.type,
        userId: r.user_id,
        clientId: r.client_id,
        ip: r.ip,
        userAgent: r.user_agent,
        requestId: r.request_id,
        details: r.details,
      }));
    },
    async close() {
      await flush();
      if (timer) clearTimeout(timer);
    },
  };
}
