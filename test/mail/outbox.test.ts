import fs from 'node:fs';
import path from 'node:path';
import request from 'supertest';
import { createApp } from '../../src/app';
import { parseConfig } from '../../src/config';
import { createMail, describeMail } from '../../src/mail/mail';
import { backoffMs, DEFAULT_RETRY, MAIL_RETENTION_MS } from '../../src/mail/mail-worker';
import { CLAIM_LEASE_MS } from '../../src/mail/outbox';
import { createPostgresDatabase } from '../../src/store/postgres';
import { createAccountTokens } from '../../src/users/account-tokens';
import { createUserRepository } from '../../src/users/user-repository';
import { backends, openStack, silentLogger, tempDir, type TestStack } from '../support/backends';
import { PASSWORD } from '../support/fixtures';
import { startSmtpServer, tokenIn, type TestSmtpServer } from '../support/smtp';

/** The mail outbox: one delivery per entry with two instances draining, the development file outbox, mail off in production. */

describe.each(backends())('mail outbox on $name', (backend) => {
  let stack: TestStack;
  let smtp: TestSmtpServer;

  beforeAll(async () => {
    smtp = await startSmtpServer();
    stack = await openStack(backend, { AUTHD_SMTP_URL: smtp.url });
  });
  afterAll(async () => {
    await stack.close();
    await smtp.close();
  });

  it('sends each entry exactly once when two instances drain the same outbox at once', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 12; i++) {
      const user = await stack.services.users.create({ username: `twice-${i}`, password: PASSWORD });
      await stack.services.users.setEmail({ id: user.id }, `twice-${i}@example.org`, { verified: true });
      ids.push(user.id);
    }
    for (const id of ids) await stack.services.mail!.outbox.enqueue('password_changed', { userId: id });

    // A second instance: its own connection pool on Postgres (the embedded database has one connection).
    const otherDb = stack.databaseUrl
      ? createPostgresDatabase({ connectionString: stack.databaseUrl })
      : stack.services.db;
    const other = createMail(stack.config, {
      db: otherDb,
      clock: stack.clock,
      logger: silentLogger,
      audit: stack.services.audit,
      users: createUserRepository(otherDb),
      tokens: createAccountTokens(otherDb, stack.clock),
    })!;
    try {
      const handled = await Promise.all([stack.services.mail!.worker.drain(), other.worker.drain()]);
      expect(handled[0] + handled[1]).toBe(12);
    } finally {
      await other.close();
      if (otherDb !== stack.services.db) await otherDb.close();
    }
    const recipients = smtp.received
      .splice(0)
      .map((m) => m.to[0])
      .sort();
    expect(recipients).toEqual(ids.map((_, i) => `twice-${i}@example.org`).sort());
    expect(await stack.services.mail!.outbox.pending()).toBe(0);
  });

  it('keeps no payload once an entry is done', async () => {
    const rows = await stack.services.db.query<{ payload: Record<string, unknown> }>(
      'SELECT payload FROM mail_outbox WHERE done_at IS NOT NULL',
    );
    expect(rows.length).toBeGreaterThan(0);
    expect(rows.every((r) => Object.keys(r.payload).length === 0)).toBe(true);
  });

  it('gives up an entry whose claims all ran out without an answer (a worker that crashes on it), instead of taking it forever', async () => {
    const user = await stack.services.users.create({ username: 'poison', password: PASSWORD });
    await stack.services.users.setEmail({ id: user.id }, 'poison@example.org', { verified: true });
    const outbox = stack.services.mail!.outbox;
    const id = await outbox.enqueue('password_changed', { userId: user.id });
    // Every attempt is claimed by an instance that dies before it completes: the lease runs out each time.
    for (let i = 1; i <= DEFAULT_RETRY.maxAttempts; i++) {
      expect((await outbox.claim(10, DEFAULT_RETRY.maxAttempts)).map((e) => [e.id, e.attempts])).toEqual([[id, i]]);
      stack.clock.advance(CLAIM_LEASE_MS + 1000);
    }
    await stack.services.mail!.worker.drain();
    expect(smtp.received.splice(0)).toEqual([]);
    const [row] = await stack.services.db.query<{ outcome: string; attempts: number }>(
      'SELECT outcome, attempts FROM mail_outbox WHERE id = $1 AND done_at IS NOT NULL',
      [id],
    );
    expect(row).toEqual({ outcome: 'failed', attempts: DEFAULT_RETRY.maxAttempts });
    await stack.services.audit.flush();
    const failed = await stack.services.audit.query({ userId: user.id, types: ['mail_failed'] });
    expect(failed.map((e) => e.details)).toEqual([
      { kind: 'password_changed', attempts: DEFAULT_RETRY.maxAttempts, error: 'lease expired', outbox_id: id },
    ]);
  });

  it('forgets done entries after the retention period (the audit log keeps the record), never pending ones', async () => {
    const user = await stack.services.users.create({ username: 'retained', password: PASSWORD });
    await stack.services.users.setEmail({ id: user.id }, 'retained@example.org', { verified: true });
    const outbox = stack.services.mail!.outbox;
    const sent = await outbox.enqueue('password_changed', { userId: user.id });
    await stack.services.mail!.worker.drain();
    smtp.received.length = 0;
    stack.clock.advance(MAIL_RETENTION_MS - 3600_000);
    const waiting = await outbox.enqueue('password_changed', { userId: user.id });
    await outbox.retryLater(waiting, 10 * 86_400_000, 'held back by the test');
    await stack.services.mail!.worker.drain();
    const ids = async () =>
      (
        await stack.services.db.query<{ id: string }>('SELECT id FROM mail_outbox WHERE id = ANY($1)', [
          [sent, waiting],
        ])
      )
        .map((r) => r.id)
        .sort();
    expect(await ids()).toEqual([sent, waiting].sort());

    stack.clock.advance(2 * 3600_000);
    await stack.services.mail!.worker.drain();
    expect(await ids()).toEqual([waiting]);
    const [all] = await stack.services.db.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM mail_outbox WHERE done_at IS NOT NULL AND done_at <= $1',
      [new Date(stack.clock.now() - MAIL_RETENTION_MS)],
    );
    expect(all.n).toBe(0);
  });
});

describe('mail without SMTP', () => {
  const [embedded] = backends();

  it('in development writes each message as an .eml file under the data directory, and logs it', async () => {
    const dataDir = tempDir('authd-outbox-');
    const stack = await openStack(embedded, {
      NODE_ENV: 'development',
      AUTHD_DATA_DIR: dataDir,
      AUTHD_REGISTRATION: 'true',
    });
    try {
      expect(describeMail(stack.config)).toEqual({
        level: 'info',
        message: `mail goes to the local outbox ${path.join(dataDir, 'outbox')} (no AUTHD_SMTP_URL; development only)`,
      });
      const app = createApp(stack.config, stack.services);
      const user = await stack.services.users.create({ username: 'frank', password: PASSWORD });
      await stack.services.users.setEmail({ id: user.id }, 'frank@example.org', { verified: true });
      expect((await request(app).post('/account/password-reset').send({ username: 'frank' })).status).toBe(202);
      expect(await stack.services.mail!.worker.drain()).toBe(1);

      const files = fs.readdirSync(path.join(dataDir, 'outbox'));
      expect(files).toEqual([expect.stringMatching(/\.eml$/)]);
      const raw = fs.readFileSync(path.join(dataDir, 'outbox', files[0]), 'utf8');
      expect(raw).toMatch(/^To: frank@example\.org$/m);
      expect(fs.statSync(path.join(dataDir, 'outbox', files[0])).mode & 0o777).toBe(0o600);
      // The file holds a working link: the whole flow runs without a mail server.
      const decoded = raw.replace(/=\r?\n/g, '').replace(/=3D/g, '=');
      const link = tokenIn({ from: '', to: [], raw, decoded, subject: '' }, '/reset');
      const confirmed = await request(app)
        .post('/account/password-reset/confirm')
        .send({ token: link, new_password: 'a fresh and unusual passphrase' });
      expect(confirmed.status).toBe(200);
    } finally {
      await stack.close();
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('in production turns the mail features off, with one line that says so', async () => {
    const stack = await openStack(embedded, { NODE_ENV: 'production', AUTHD_REGISTRATION: 'true' });
    try {
      expect(stack.config.mail).toBeUndefined();
      expect(stack.services.mail).toBeUndefined();
      expect(describeMail(stack.config)).toEqual({
        level: 'warn',
        message: 'mail is off: AUTHD_SMTP_URL is not set, so password reset and email verification are disabled',
      });
      const app = createApp(stack.config, stack.services);
      // Not served: the path falls through to the account API, which wants a bearer token.
      expect((await request(app).post('/account/password-reset').send({ username: 'x' })).status).toBe(401);
      expect((await request(app).get('/reset')).status).toBe(404);
      expect((await request(app).get('/login')).text).not.toContain('Forgot password?');
      // Registration with an address still works; the address stays unverified.
      expect(
        (await request(app).post('/register').send({ username: 'gina', password: PASSWORD, email: 'gina@example.org' }))
          .status,
      ).toBe(202);
    } finally {
      await stack.close();
    }
  });

  it('reads the SMTP settings and refuses malformed ones', () => {
    expect(
      parseConfig({
        AUTHD_SMTP_URL: 'smtps://u:p@mail.example.org:465',
        AUTHD_MAIL_FROM: 'Example <no-reply@example.org>',
      }).mail,
    ).toEqual({ transport: 'smtp', url: 'smtps://u:p@mail.example.org:465', from: 'Example <no-reply@example.org>' });
    expect(parseConfig({}).mail).toMatchObject({ transport: 'files', from: '"authd" <no-reply@localhost>' });
    expect(() => parseConfig({ AUTHD_SMTP_URL: 'http://mail.example.org', AUTHD_MAIL_FROM: 'no address' })).toThrow(
      'AUTHD_SMTP_URL: expected a URL starting with smtp:// or smtps://\nAUTHD_MAIL_FROM: expected an address, optionally with a name: "Example <no-reply@example.com>"',
    );
    // The start line never shows the credentials.
    expect(describeMail(parseConfig({ AUTHD_SMTP_URL: 'smtp://user:secret@mail.example.org:587' })).message).toBe(
      'mail goes through SMTP at smtp://mail.example.org:587',
    );
  });

  it('backs off exponentially, with jitter, up to a cap', () => {
    expect([1, 2, 3, 8].map((n) => backoffMs(n, DEFAULT_RETRY, () => 0.5))).toEqual([
      30_000, 60_000, 120_000, 3600_000,
    ]);
    expect(backoffMs(1, DEFAULT_RETRY, () => 0)).toBe(24_000);
    expect(backoffMs(1, DEFAULT_RETRY, () => 1)).toBe(36_000);
  });
});
