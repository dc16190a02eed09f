import type { Express } from 'express';
import request from 'supertest';
import { RESET_ACCEPTED } from '../../src/http/account-recovery';
import { createAccountTokens } from '../../src/users/account-tokens';
import { backends, openStack, type TestStack } from '../support/backends';
import { PASSWORD, seed, token } from '../support/fixtures';
import { startSmtpServer, tokenIn, type TestSmtpServer } from '../support/smtp';

/**
 * Self-service password reset over a real SMTP server: the request answers the same for every
 * input and does only an INSERT (the outbox worker, drained here by hand, looks the account up,
 * mints the link and mails it); the link works once, briefly, and only while it is the newest.
 */

const ISSUER = 'https://authd.test';
const NEW_PASSWORD = 'a fresh and unusual passphrase';
const MINUTE = 60_000;
const INVALID_LINK = {
  error: 'invalid_grant',
  error_description: 'The link is invalid, has expired or was already used; ask for a new one.',
};

describe.each(backends())('password reset on $name', (backend) => {
  let stack: TestStack;
  let app: Express;
  let smtp: TestSmtpServer;
  let seq = 0;

  const count = async (sql: string, params: unknown[] = []) =>
    (await stack.services.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${sql}`, params))[0].n;
  const drain = () => stack.services.mail!.worker.drain();
  const requestReset = (params: Record<string, string>) =>
    request(app).post('/account/password-reset').type('form').send(params);
  const confirm = (resetToken: string, password = NEW_PASSWORD) =>
    request(app)
      .post('/account/password-reset/confirm')
      .type('form')
      .send({ token: resetToken, new_password: password });
  const login = (username: string, password: string) =>
    token(app, { grant_type: 'password', client_id: 'web', username, password });

  /** A user with a verified address (so no verification mail is queued for it). */
  async function newUser(): Promise<{ id: string; username: string; email: string }> {
    seq++;
    const username = `reset-user-${seq}`;
    const email = `Reset.User.${seq}@example.org`;
    const user = await stack.services.users.create({ username, password: PASSWORD });
    await stack.services.users.setEmail({ id: user.id }, email, { verified: true });
    return { id: user.id, username, email };
  }

  /** Requests a link for the user and returns the token the mail carried. */
  async function mailedToken(identifier: string): Promise<string> {
    expect((await requestReset({ username: identifier })).status).toBe(202);
    await drain();
    // A notice queued by the test before may come first.
    let mail = await smtp.next();
    while (mail.subject !== 'Reset your authd password') mail = await smtp.next();
    return tokenIn(mail, '/reset');
  }

  beforeAll(async () => {
    smtp = await startSmtpServer();
    stack = await openStack(backend, { AUTHD_SMTP_URL: smtp.url, AUTHD_MAIL_FROM: 'Example <no-reply@example.org>' });
    app = (await seed(stack)).app;
  });
  afterAll(async () => {
    await stack.close();
    await smtp.close();
  });
  // Each test starts in a new throttle window (limits per address and per account).
  beforeEach(() => stack.clock.advance(16 * MINUTE));
  // What a test left queued (a notice) is sent and dropped, so the next one starts with no mail.
  afterEach(async () => {
    await drain();
    smtp.received.length = 0;
  });

  it('answers the same whether the account exists, has no address, or does not exist; the lookup happens in the worker', async () => {
    const known = await newUser();
    const noAddress = await stack.services.users.create({ username: `no-address-${seq}`, password: PASSWORD });
    const tokensBefore = await count('account_tokens');
    const pendingBefore = await stack.services.mail!.outbox.pending();

    const answers = [];
    for (const identifier of [
      known.username,
      known.email.toUpperCase(),
      noAddress.username,
      'nobody-at-all',
      'nobody@example.org',
    ]) {
      const res = await requestReset({ username: identifier });
      answers.push({
        status: res.status,
        body: res.body,
        cacheControl: res.headers['cache-control'],
        type: res.headers['content-type'],
        length: res.headers['content-length'],
      });
    }
    const expected = {
      status: 202,
      body: RESET_ACCEPTED,
      cacheControl: 'no-store',
      type: 'application/json; charset=utf-8',
      length: answers[0].length,
    };
    expect(answers).toEqual(Array(5).fill(expected));
    // Not on the request path: the answers came before any account was looked up or token minted.
    expect(await count('account_tokens')).toBe(tokensBefore);
    expect(await stack.services.mail!.outbox.pending()).toBe(pendingBefore + 5);
    expect(smtp.received).toEqual([]);

    expect(await drain()).toBe(5);
    const first = await smtp.next();
    const second = await smtp.next();
    // Only the existing account with an address got mail (by username and by address).
    expect([first.to, second.to]).toEqual([[known.email], [known.email]]);
    expect(smtp.received).toEqual([]);
    expect(first.from).toBe('no-reply@example.org');
    expect(first.subject).toBe('Reset your authd password');
    expect(first.decoded).toContain(`${ISSUER}/reset#token=`);
    expect(first.raw).toMatch(/Content-Type: text\/plain/);
    expect(first.raw).toMatch(/Content-Type: text\/html/);
    await stack.services.audit.flush();
    const skipped = await stack.services.audit.query({ types: ['mail_skipped'], limit: 10 });
    expect(skipped.map((e) => e.details.reason).sort()).toEqual(['no_account', 'no_account', 'no_email']);
  });

  it('resets the password through the mailed link: the new password works, every session and access token ends, a notice is mailed', async () => {
    const user = await newUser();
    const before = await login(user.username, PASSWORD);
    expect(before.status).toBe(200);

    const resetToken = await mailedToken(user.email);
    expect(resetToken).toMatch(/^[\w-]{43}$/); // 256 random bits
    const res = await confirm(resetToken);
    expect({ status: res.status, body: res.body }).toEqual({
      status: 200,
      body: { message: 'The password was changed and every session was signed out. Sign in with the new password.' },
    });

    expect((await login(user.username, PASSWORD)).status).toBe(400);
    expect((await login(user.username, NEW_PASSWORD)).status).toBe(200);
    const refreshed = await token(app, {
      grant_type: 'refresh_token',
      client_id: 'web',
      refresh_token: before.body.refresh_token,
    });
    expect(refreshed.body.error).toBe('invalid_grant');
    const claims = JSON.parse(Buffer.from(before.body.access_token.split('.')[1], 'base64url').toString());
    expect(
      await stack.services.revocations.isRevoked({
        sub: claims.sub,
        sid: claims.sid,
        jti: claims.jti,
        iat: claims.iat,
      }),
    ).toBe(true);

    await stack.services.audit.flush();
    const [event] = await stack.services.audit.query({ userId: user.id, types: ['user_password_reset'] });
    expect(event.details).toEqual({ sessions_revoked: true });

    await drain();
    const notice = await smtp.next();
    expect({ to: notice.to, subject: notice.subject }).toEqual({
      to: [user.email],
      subject: 'Your authd password was changed',
    });
  });

  it('refuses a used link, an expired one, one replaced by a newer request and one outdated by a password change', async () => {
    const user = await newUser();
    const used = await mailedToken(user.username);
    expect((await confirm(used)).status).toBe(200);
    const again = await confirm(used, 'yet another long passphrase');
    expect({ status: again.status, body: again.body }).toEqual({ status: 400, body: INVALID_LINK });
    await drain();
    await smtp.next(); // the notice

    stack.clock.advance(16 * MINUTE);
    const expiring = await mailedToken(user.username);
    stack.clock.advance(20 * MINUTE + 1000);
    expect((await confirm(expiring)).body).toEqual(INVALID_LINK);

    stack.clock.advance(16 * MINUTE);
    const older = await mailedToken(user.username);
    const newer = await mailedToken(user.username);
    expect((await confirm(older)).body).toEqual(INVALID_LINK);

    await stack.services.users.setPassword({ id: user.id }, 'set by an operator meanwhile');
    expect((await confirm(newer)).body).toEqual(INVALID_LINK);
    expect((await login(user.username, 'set by an operator meanwhile')).status).toBe(200);
  });

  it('keeps the link usable after a password the policy refuses, and refuses junk tokens without a lookup', async () => {
    const user = await newUser();
    const resetToken = await mailedToken(user.username);
    const weak = await confirm(resetToken, 'password');
    expect({ status: weak.status, error: weak.body.error }).toEqual({ status: 400, error: 'invalid_request' });
    expect((await confirm('not-a-token')).body).toEqual(INVALID_LINK);
    const missing = await request(app)
      .post('/account/password-reset/confirm')
      .type('form')
      .send({ new_password: NEW_PASSWORD });
    expect(missing.body).toEqual({ error: 'invalid_request', error_description: 'The token parameter is missing.' });
    expect((await confirm(resetToken)).status).toBe(200);
  });

  it('lets exactly one of several simultaneous confirms with one link win', async () => {
    const user = await newUser();
    const resetToken = await mailedToken(user.username);
    // Four: within the hashing lane of anonymous requests (one running, four queued), so each is decided by the token.
    const results = await Promise.all(
      Array.from({ length: 4 }, (_, i) => confirm(resetToken, `${NEW_PASSWORD} number ${i}`)),
    );
    expect(results.map((r) => r.status).sort()).toEqual([200, 400, 400, 400]);
    const winner = results.findIndex((r) => r.status === 200);
    expect((await login(user.username, `${NEW_PASSWORD} number ${winner}`)).status).toBe(200);

    // The consumption itself, ten at once with no hashing in between: one user id, nine refusals.
    stack.clock.advance(16 * MINUTE);
    const second = await mailedToken(user.username);
    const hash = (await stack.services.userRepository.findById(user.id))!.passwordHash;
    const tokens = createAccountTokens(stack.services.db, stack.clock);
    const consumed = await Promise.all(
      Array.from({ length: 10 }, () => tokens.consume(second, 'password_reset', hash)),
    );
    expect(consumed.filter((id) => id !== undefined)).toEqual([user.id]);
  });

  it('throttles per account and per address before any work, with Retry-After', async () => {
    const user = await newUser();
    const pending = await stack.services.mail!.outbox.pending();
    for (let i = 0; i < 3; i++) expect((await requestReset({ email: user.email })).status).toBe(202);
    const refused = await requestReset({ email: user.email.toLowerCase() });
    expect({
      status: refused.status,
      error: refused.body.error,
      retryAfter: Number(refused.headers['retry-after']) > 0,
    }).toEqual({ status: 429, error: 'temporarily_unavailable', retryAfter: true });
    // The same limit for a name no account has: the limit tells nothing about existence.
    for (let i = 0; i < 3; i++) expect((await requestReset({ username: 'ghost' })).status).toBe(202);
    expect((await requestReset({ username: 'ghost' })).status).toBe(429);
    // Refused requests queued nothing.
    expect(await stack.services.mail!.outbox.pending()).toBe(pending + 6);

    // Per address: 20 requests a window, whatever the names.
    stack.clock.advance(16 * MINUTE);
    for (let i = 0; i < 20; i++) expect((await requestReset({ username: `spray-${i}` })).status).toBe(202);
    expect((await requestReset({ username: 'spray-20' })).status).toBe(429);
    await drain();
  });

  it('retries a mail the SMTP server refused, later, with backoff; gives up after the last attempt', async () => {
    const user = await newUser();
    smtp.failNext(1);
    expect((await requestReset({ username: user.username })).status).toBe(202);
    expect(await drain()).toBe(1);
    expect(smtp.received).toEqual([]);
    const [entry] = await stack.services.db.query<{ attempts: number; last_error: string; done_at: Date | null }>(
      'SELECT attempts, last_error, done_at FROM mail_outbox WHERE done_at IS NULL',
    );
    expect({ attempts: entry.attempts, done: entry.done_at, error: entry.last_error }).toEqual({
      attempts: 1,
      done: null,
      error: expect.stringContaining('451'),
    });
    // Not due yet: the backoff holds it back.
    expect(await drain()).toBe(0);
    stack.clock.advance(40_000);
    expect(await drain()).toBe(1);
    const mail = await smtp.next();
    expect((await confirm(tokenIn(mail, '/reset'))).status).toBe(200);
    await stack.services.audit.flush();
    const [sent] = await stack.services.audit.query({ userId: user.id, types: ['mail_sent'] });
    expect(sent.details).toMatchObject({ kind: 'password_reset', transport: 'smtp', attempts: 2 });
    await drain();
    await smtp.next(); // the notice

    stack.clock.advance(16 * MINUTE);
    smtp.failNext(1000);
    expect((await requestReset({ username: user.username })).status).toBe(202);
    for (let attempt = 1; attempt <= 8; attempt++) {
      expect(await drain()).toBe(1);
      stack.clock.advance(2 * 3600_000);
    }
    expect(await drain()).toBe(0);
    smtp.failNext(0);
    await stack.services.audit.flush();
    const [failed] = await stack.services.audit.query({ userId: user.id, types: ['mail_failed'] });
    expect(failed.details).toMatchObject({ kind: 'password_reset', attempts: 8 });
    expect(await stack.services.mail!.outbox.pending()).toBe(0);
  });

  it('links to the reset page from the sign-in page', async () => {
    const login = await request(app).get('/login');
    expect(login.text).toContain('<a href="/reset">Forgot password?</a>');
    const page = await request(app).get('/reset');
    expect({ status: page.status, type: page.headers['content-type'] }).toEqual({
      status: 200,
      type: 'text/html; charset=utf-8',
    });
    expect(page.text).toContain('<script src="/pages/reset.js" defer></script>');
    expect((await request(app).get('/pages/reset.js')).status).toBe(200);
  });
});
