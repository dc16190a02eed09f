import type { AuditLog } from '../audit/audit-log';
import type { Clock } from '../clock';
import type { Config } from '../config';
import type { Logger } from '../logger';
import type { Database } from '../store/database';
import type { AccountTokens } from '../users/account-tokens';
import type { UserStore } from '../users/user-store';
import { createAccountMail } from './account-mail';
import { createMailWorker, type MailWorker, type RetryPolicy } from './mail-worker';
import { createOutbox, type MailKind, type Outbox } from './outbox';
import { createFileTransport, createSmtpTransport, type MailTransport } from './transport';

export interface Mail {
  outbox: Outbox;
  worker: MailWorker;
  transport: MailTransport;
  /** Queues a message and wakes the worker; the caller never waits for delivery. */
  queue(kind: MailKind, entry: { userId?: string; payload?: Record<string, unknown> }): Promise<void>;
  close(): Promise<void>;
}

export interface MailDeps {
  db: Database;
  clock: Clock;
  logger: Logger;
  audit: AuditLog;
  users: UserStore;
  tokens: AccountTokens;
  retry?: RetryPolicy;
}

/** The outbox, its worker and the transport; undefined when the configuration has no mail (production without SMTP). */
export function createMail(config: Config, deps: MailDeps): Mail | undefined {
  const settings = config.mail;
  if (!settings) return undefined;
  const transport =
    settings.transport === 'smtp'
      ? createSmtpTransport(settings.url, settings.from)
      : createFileTransport(settings.dir, settings.from, deps.logger);
  const outbox = createOutbox(deps.db, deps.clock);
  const brand = config.hostedPages ?? { brandName: 'authd', brandColor: '#1f6feb', logoUrl: undefined };
  const compose = createAccountMail({
    users: deps.users,
    tokens: deps.tokens,
    issuer: config.issuer,
    brand,
    split: outbox.split,
  });
  const worker = createMailWorker({
    outbox,
    compose,
    transport,
    audit: deps.audit,
    logger: deps.logger,
    clock: deps.clock,
    retry: deps.retry,
    prune: () => deps.tokens.prune(),
  });
  return {
    outbox,
    worker,
    transport,
    async queue(kind, entry) {
      await outbox.enqueue(kind, entry);
      worker.wake();
    },
    async close() {
      await worker.stop();
      transport.close();
    },
  };
}

/** The one line at start that says where mail goes, or that the features needing it are off. */
export function describeMail(config: Config): { level: 'info' | 'warn'; message: string } {
  const settings = config.mail;
  if (!settings) {
    return {
      level: 'warn',
      message: 'mail is off: AUTHD_SMTP_URL is not set, so password reset and email verification are disabled',
    };
  }
  if (settings.transport === 'files')
    return {
      level: 'info',
      message: `mail goes to the local outbox ${settings.dir} (no AUTHD_SMTP_URL; development only)`,
    };
  const url = new URL(settings.url);
  return { level: 'info', message: `mail goes through SMTP at ${url.protocol}//${url.host}` };
}
