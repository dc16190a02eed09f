import type { Express } from 'express';
import request from 'supertest';
import { createApp } from '../../src/app';
import { backends, openStack, type TestStack } from '../support/backends';
import { PASSWORD, token } from '../support/fixtures';
import { startSmtpServer, tokenIn, type TestSmtpServer } from '../support/smtp';

/**
 * Changing the own address through PUT /account/email. The address is where password resets go,
 * so a change is a credential change: it needs the current password (a stolen access token alone
 * must not be able to point the account's resets at the thief's mailbox), counts wrong passwords
 * in the login throttle, and tells the old address that it no longer belongs to the account.
 */

const ISSUER = 'https://authd.test';
const MINUTE = 60_000;

describe.each(backends())('email change on $name', (backend) => {
  let stack: TestStack;
  let app: Express;
  let smtp: TestSmtpServer;
  let ipCounter = 0;
  let userCounter = 0;

  const freshIp = () => `198.51.100.${++ipCounter}`;
  const drain = () => stack.services.mail!.worker.drain();

  async function signedInUser(): Promise<{ id: string; username: string; bearer: string }> {
    const username = `changer-${++userCounter}`;
    const user = await stack.services.users.create({ username, password: PASSWORD });
    await stack.services.users.setEmail({ id: user.id }, `${username}@old.example.org`, { verified: true });
    const login = await token(app, { grant_type: 'password', client_id: 'self', username, password: PASSWORD });
    expect(login.status).toBe(200);
    return { id: user.id, username, bearer: login.body.access_token };
  }

  const change = (bearer: string, body: object, ip = freshIp()) =>
    request(app).put('/account/email').set('Authorization', `Bearer ${bearer}`).set('X-Forwarded-For', ip).send(body);

  beforeAll(async () => {
    smtp = await startSmtpServer();
    stack = await openStack(backend, { AUTHD_SMTP_URL: smtp.url, AUTHD_TRUST_PROXY: 'loopback' });
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

  it('refuses a change with the access token alone or a wrong password, and leaves the address as it was', async () => {
    const user = await signedInUser();
    const noPassword = await change(user.bearer, { email: 'thief@evil.example' });
    expect({ status: noPassword.status, error: noPassword.body.error }).toEqual({
      status: 400,
      error: 'invalid_request',
    });
    const wrong = await change(user.bearer, { email: 'thief@evil.example', current_password: 'not the password' });
    expect({ status: wrong.status, body: wrong.body }).toEqual({
      status: 400,
      body: { error: 'invalid_request', code: 'wrong_password', error_description: 'The current password is wrong.' },
    });
    const removal = await change(user.bearer, { email: null, current_password: 'not the password' });
    expect(removal.status).toBe(400);

    const stored = await stack.services.userRepository.findById(user.id);
    expect({ email: stored?.email, verified: stored?.emailVerified }).toEqual({
      email: `${user.username}@old.example.org`,
      verified: true,
    });
    await drain();
    expect(smtp.received).toEqual([]);
  });

  it('counts wrong passwords in the login throttle of the user and IP', async () => {
    const user = await signedInUser();
    const ip = freshIp();
    for (let i = 0; i < 5; i++) {
      const res = await change(user.bearer, { email: 'thief@evil.example', current_password: `guess ${i}` }, ip);
      expect(res.status).toBe(400);
    }
    // The fifth failure armed the lock: the right password is now refused unchecked.
    const locked = await change(user.bearer, { email: 'thief@evil.example', current_password: PASSWORD }, ip);
    expect({ status: locked.status, error: locked.body.error }).toEqual({
      status: 429,
      error: 'temporarily_unavailable',
    });
    expect((await stack.services.userRepository.findById(user.id))?.email).toBe(`${user.username}@old.example.org`);
  });

  it('with the password: mails the link to the new address and a notice without any link to the old one', async () => {
    const user = await signedInUser();
    const newAddress = `${user.username}@new.example.org`;
    const changed = await change(user.bearer, { email: newAddress, current_password: PASSWORD });
    expect({ status: changed.status, email: changed.body.email, verified: changed.body.email_verified }).toEqual({
      status: 200,
      email: newAddress,
      verified: false,
    });
    await drain();
    const mails = smtp.received.splice(0);
    const byRecipient = Object.fromEntries(mails.map((m) => [m.to[0], m]));
    expect(Object.keys(byRecipient).sort()).toEqual([`${user.username}@old.example.org`, newAddress].sort());
    expect(tokenIn(byRecipient[newAddress], '/verify-email')).toMatch(/^[\w-]{43}$/);

    const notice = byRecipient[`${user.username}@old.example.org`];
    expect(notice.subject).toBe('The email address of your authd account was changed');
    expect(notice.decoded).toContain(`The email address of the account "${user.username}" was changed`);
    expect(notice.decoded).not.toMatch(/#token=/);
    // The old address is not told where the account's mail goes now.
    expect(notice.decoded).not.toContain(newAddress);

    await stack.services.audit.flush();
    const sent = await stack.services.audit.query({ userId: user.id, types: ['mail_sent'] });
    expect(sent.map((e) => (e.details as { kind: string }).kind).sort()).toEqual([
      'email_changed',
      'email_verification',
    ]);
  });

  it('tells the old address when the address is removed, and sends nothing when it stays the same', async () => {
    const user = await signedInUser();
    const same = await change(user.bearer, {
      email: `${user.username.toUpperCase()}@old.example.org`,
      current_password: PASSWORD,
    });
    expect({ status: same.status, verified: same.body.email_verified }).toEqual({ status: 200, verified: true });
    await drain();
    expect(smtp.received).toEqual([]);

    const removed = await change(user.bearer, { email: null, current_password: PASSWORD });
    expect({ status: removed.status, email: removed.body.email }).toEqual({ status: 200, email: null });
    await drain();
    expect(smtp.received.splice(0).map((m) => ({ to: m.to, subject: m.subject }))).toEqual([
      // To the address as last stored (the same address again keeps the case it was given in).
      {
        to: [`${user.username.toUpperCase()}@old.example.org`],
        subject: 'The email address of your authd account was changed',
      },
    ]);
  });
});
