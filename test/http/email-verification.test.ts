import type { Express } from 'express';
import request from 'supertest';
import { VERIFICATION_ACCEPTED } from '../../src/http/account-recovery';
import { UNVERIFIED_EMAIL } from '../../src/oauth/grants/password';
import { backends, openStack, type TestStack } from '../support/backends';
import { basic, PASSWORD, token } from '../support/fixtures';
import { createApp } from '../../src/app';
import { startSmtpServer, tokenIn, type TestSmtpServer } from '../support/smtp';

/**
 * Email verification: a link mailed on registration and on every change of address, the flag in
 * the user record and the admin API, logins refused while unverified when
 * AUTHD_REQUIRE_VERIFIED_EMAIL=true, and a throttled resend.
 */

const ISSUER = 'https://authd.test';
const MINUTE = 60_000;
const INVALID_LINK = {
  error: 'invalid_grant',
  error_description: 'The link is invalid, has expired or was already used; ask for a new one.',
};

describe.each(backends())('email verification on $name', (backend) => {
  let stack: TestStack;
  let app: Express;
  let smtp: TestSmtpServer;

  const drain = () => stack.services.mail!.worker.drain();
  const register = (params: Record<string, string>) => request(app).post('/register').type('form').send(params);
  const verify = (verificationToken: string) =>
    request(app).post('/account/email-verification/confirm').type('form').send({ token: verificationToken });
  const resend = (identifier: string) =>
    request(app).post('/account/email-verification').type('form').send({ username: identifier });
  const login = (username: string, password = PASSWORD) =>
    token(app, { grant_type: 'password', client_id: 'self', username, password });
  let ops: { secret: string };
  async function adminUser(id: string) {
    const granted = await token(app, { grant_type: 'client_credentials' }, { Authorization: basic('ops', ops.secret) });
    return request(app).get(`/admin/users/${id}`).set('Authorization', `Bearer ${granted.body.access_token}`);
  }

  async function mailedToken(to: string): Promise<string> {
    await drain();
    // A change of address also tells the previous one (test/http/email-change.test.ts).
    let mail = await smtp.next();
    while (mail.subject === 'The email address of your authd account was changed') mail = await smtp.next();
    expect({ to: mail.to, subject: mail.subject }).toEqual({
      to: [to],
      subject: 'Confirm your email address for authd',
    });
    return tokenIn(mail, '/verify-email');
  }

  beforeAll(async () => {
    smtp = await startSmtpServer();
    stack = await openStack(backend, {
      AUTHD_SMTP_URL: smtp.url,
      AUTHD_REGISTRATION: 'true',
      AUTHD_REQUIRE_VERIFIED_EMAIL: 'true',
    });
    app = createApp(stack.config, stack.services);
    await stack.services.clientService.create({
      id: 'self',
      name: 'Account',
      confidential: false,
      firstParty: true,
      grantTypes: ['password', 'refresh_token'],
      scopes: ['authd:account'],
      defaultScopes: ['authd:account'],
      audience: ISSUER,
    });
    const created = await stack.services.clientService.create({
      id: 'ops',
      name: 'Ops',
      confidential: true,
      grantTypes: ['client_credentials'],
      scopes: ['authd:admin'],
      defaultScopes: ['authd:admin'],
      audience: ISSUER,
    });
    ops = { secret: created.secret! };
  });
  afterAll(async () => {
    await stack.close();
    await smtp.close();
  });
  beforeEach(() => stack.clock.advance(16 * MINUTE));
  afterEach(async () => {
    await drain();
    smtp.received.length = 0;
  });

  it('mails a link on registration; logins wait for it; following it verifies the address in the record, the admin API and the login', async () => {
    expect((await register({ username: 'carol', password: PASSWORD, email: 'Carol@Example.org' })).status).toBe(202);
    const carol = (await stack.services.userRepository.findByNormalizedUsername('carol'))!;
    expect({ email: carol.email, verified: carol.emailVerified }).toEqual({
      email: 'Carol@Example.org',
      verified: false,
    });
    expect(smtp.received).toEqual([]); // queued, not sent on the request path

    const refused = await login('carol');
    expect({ status: refused.status, body: refused.body }).toEqual({
      status: 400,
      body: { error: 'invalid_grant', error_description: UNVERIFIED_EMAIL },
    });
    // Without the password, the answer is the usual one: being unverified tells nothing to a stranger.
    expect((await login('carol', 'not the password at all')).body.error_description).toBe(
      'Invalid username or password.',
    );

    const verificationToken = await mailedToken('Carol@example.org');
    const res = await verify(verificationToken);
    expect({ status: res.status, body: res.body }).toEqual({
      status: 200,
      body: { email_verified: true, message: 'Your email address is verified.' },
    });
    expect((await verify(verificationToken)).body).toEqual(INVALID_LINK);
    expect((await adminUser(carol.id)).body).toMatchObject({ email: 'Carol@Example.org', email_verified: true });
    expect((await login('carol')).status).toBe(200);
    await stack.services.audit.flush();
    expect((await stack.services.audit.query({ userId: carol.id, types: ['user_email_verified'] })).length).toBe(1);
  });

  it('re-verifies a changed address: the account API sets it unverified, mails the new one, and the old link stops working', async () => {
    const dave = await stack.services.users.create({ username: 'dave', password: PASSWORD });
    await stack.services.users.setEmail({ id: dave.id }, 'dave@example.org', { verified: true });
    const session = await login('dave');
    expect(session.status).toBe(200);

    const changed = await request(app)
      .put('/account/email')
      .set('Authorization', `Bearer ${session.body.access_token}`)
      .send({ email: 'dave@new.example.org', current_password: PASSWORD });
    expect({ status: changed.status, email: changed.body.email, verified: changed.body.email_verified }).toEqual({
      status: 200,
      email: 'dave@new.example.org',
      verified: false,
    });
    const first = await mailedToken('dave@new.example.org');
    expect((await login('dave')).body.error_description).toBe(UNVERIFIED_EMAIL);

    // A second change: the link for the first new address must not verify the second.
    await request(app)
      .put('/account/email')
      .set('Authorization', `Bearer ${session.body.access_token}`)
      .send({ email: 'dave@third.example.org', current_password: PASSWORD });
    const second = await mailedToken('dave@third.example.org');
    expect((await verify(first)).body).toEqual(INVALID_LINK);
    expect((await verify(second)).status).toBe(200);
    expect((await adminUser(dave.id)).body).toMatchObject({ email: 'dave@third.example.org', email_verified: true });

    const taken = await request(app)
      .put('/account/email')
      .set('Authorization', `Bearer ${session.body.access_token}`)
      .send({ email: 'Carol@example.org', current_password: PASSWORD });
    expect({ status: taken.status, body: taken.body }).toEqual({
      status: 409,
      body: {
        error: 'invalid_request',
        code: 'email_taken',
        error_description: 'That email address belongs to another user.',
      },
    });
  });

  it('resends a link on request, the same answer for every name, throttled; a link expires after a day', async () => {
    expect((await register({ username: 'erin', password: PASSWORD, email: 'erin@example.org' })).status).toBe(202);
    const stale = await mailedToken('erin@example.org');
    stack.clock.advance(24 * 3600_000 + 1000);
    expect((await verify(stale)).body).toEqual(INVALID_LINK);

    const answers = await Promise.all(
      ['erin', 'nobody-here'].map(async (name) => {
        const res = await resend(name);
        return { status: res.status, body: res.body };
      }),
    );
    expect(answers).toEqual([
      { status: 202, body: VERIFICATION_ACCEPTED },
      { status: 202, body: VERIFICATION_ACCEPTED },
    ]);
    const fresh = await mailedToken('erin@example.org');
    expect(smtp.received).toEqual([]); // nothing for the name without an account

    // Three a window per name ('erin' was asked for once above); an address is a name of its own.
    expect((await resend('erin')).status).toBe(202);
    expect((await resend(' Erin ')).status).toBe(202);
    const refused = await resend('ERIN');
    expect({
      status: refused.status,
      error: refused.body.error,
      retryAfter: Number(refused.headers['retry-after']) > 0,
    }).toEqual({ status: 429, error: 'temporarily_unavailable', retryAfter: true });
    // The newest link counts; the ones before it were replaced.
    await drain();
    const newest = tokenIn(smtp.received.pop()!, '/verify-email');
    expect((await verify(fresh)).body).toEqual(INVALID_LINK);
    expect((await verify(newest)).status).toBe(200);
  });

  it('serves the hosted verification page', async () => {
    const page = await request(app).get('/verify-email');
    expect({ status: page.status, type: page.headers['content-type'] }).toEqual({
      status: 200,
      type: 'text/html; charset=utf-8',
    });
    expect(page.text).toContain('<script src="/pages/verify-email.js" defer></script>');
  });
});
