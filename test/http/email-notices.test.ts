import type { Express } from 'express';
import request from 'supertest';
import { createApp } from '../../src/app';
import { base32Decode, totpCode, totpStep } from '../../src/mfa/totp';
import { backends, openStack, type TestStack } from '../support/backends';
import { PASSWORD, token } from '../support/fixtures';
import { startSmtpServer, type TestSmtpServer } from '../support/smtp';

/**
 * Notices of credential changes, mailed to the account's address: a password changed on the
 * account page or set by an administrator, and a second factor turned off or reset. Whoever
 * made the change, the owner hears of it (OWASP's Forgot Password and MFA cheat sheets).
 */

const ISSUER = 'https://authd.test';
const NEW_PASSWORD = 'an entirely different passphrase';

describe.each(backends())('security notices on $name', (backend) => {
  let stack: TestStack;
  let app: Express;
  let smtp: TestSmtpServer;
  let userCounter = 0;

  const drain = () => stack.services.mail!.worker.drain();

  async function userWithAddress(): Promise<{ id: string; username: string; email: string; bearer: string }> {
    const username = `noticed-${++userCounter}`;
    const email = `${username}@example.org`;
    const user = await stack.services.users.create({ username, password: PASSWORD });
    await stack.services.users.setEmail({ id: user.id }, email, { verified: true });
    const login = await token(app, { grant_type: 'password', client_id: 'self', username, password: PASSWORD });
    expect(login.status).toBe(200);
    return { id: user.id, username, email, bearer: login.body.access_token };
  }

  /** The one mail the worker sends now: its recipient, subject and decoded text. */
  async function onlyMail(): Promise<{ to: string[]; subject: string; text: string }> {
    await drain();
    const mails = smtp.received.splice(0);
    expect(mails).toHaveLength(1);
    return { to: mails[0].to, subject: mails[0].subject, text: mails[0].decoded };
  }

  beforeAll(async () => {
    smtp = await startSmtpServer();
    stack = await openStack(backend, { AUTHD_SMTP_URL: smtp.url });
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
  beforeEach(() => stack.clock.advance(3600_000));
  afterEach(async () => {
    await drain();
    smtp.received.length = 0;
  });

  it('tells the owner when the password was changed on the account page, and when an administrator set it', async () => {
    const user = await userWithAddress();
    const changed = await request(app)
      .post('/account/password')
      .set('Authorization', `Bearer ${user.bearer}`)
      .send({ current_password: PASSWORD, new_password: NEW_PASSWORD });
    expect(changed.status).toBe(200);
    const byUser = await onlyMail();
    expect({ to: byUser.to, subject: byUser.subject }).toEqual({
      to: [user.email],
      subject: 'Your authd password was changed',
    });
    expect(byUser.text).toContain(
      `The password of the account "${user.username}" was just changed from the account page, and every other session of the account was signed out.`,
    );

    await stack.services.users.setPassword({ id: user.id }, 'yet another fine passphrase');
    expect((await onlyMail()).text).toContain('was just set by an administrator');
  });

  it('tells the owner when two-step verification was turned off, or reset by an administrator', async () => {
    const user = await userWithAddress();
    const enrol = async () => {
      const started = await stack.services.mfa.startEnrolment(user);
      const secret = base32Decode(started.secret);
      await stack.services.mfa.confirmEnrolment(user.id, totpCode(secret, totpStep(stack.clock.now())));
      stack.clock.advance(30_000);
      return secret;
    };
    const secret = await enrol();
    await drain();
    smtp.received.length = 0;
    const disabled = await request(app)
      .post('/account/mfa/disable')
      .set('Authorization', `Bearer ${user.bearer}`)
      .send({ password: PASSWORD, otp: totpCode(secret, totpStep(stack.clock.now())) });
    expect(disabled.status).toBe(204);
    const off = await onlyMail();
    expect({ to: off.to, subject: off.subject }).toEqual({
      to: [user.email],
      subject: 'Two-step verification was turned off for your authd account',
    });
    expect(off.text).toContain(`Two-step verification of the account "${user.username}" was turned off`);

    await enrol();
    expect(await stack.services.mfa.remove(user.id, 'admin')).toBe(true);
    expect((await onlyMail()).text).toContain('was reset by an administrator');
    // Nothing to remove, nothing to tell.
    expect(await stack.services.mfa.remove(user.id, 'admin')).toBe(false);
    await drain();
    expect(smtp.received).toEqual([]);
  });
});
