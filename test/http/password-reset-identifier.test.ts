import type { Express } from 'express';
import request from 'supertest';
import { createApp } from '../../src/app';
import { backends, openStack, type TestStack } from '../support/backends';
import { PASSWORD } from '../support/fixtures';
import { startSmtpServer, tokenIn, type TestSmtpServer } from '../support/smtp';

/**
 * The "username or email" of a reset or verification request can name two accounts: a username
 * may look like an address, and someone may register another person's address as a username.
 * Each account the text names gets its own link at its own address, so a look-alike username
 * cannot keep the owner of the address from resetting their password.
 */

const NEW_PASSWORD = 'a fresh and unusual passphrase';

describe.each(backends())('a reset identifier that names two accounts on $name', (backend) => {
  let stack: TestStack;
  let app: Express;
  let smtp: TestSmtpServer;

  const drain = () => stack.services.mail!.worker.drain();

  beforeAll(async () => {
    smtp = await startSmtpServer();
    stack = await openStack(backend, { AUTHD_SMTP_URL: smtp.url });
    app = createApp(stack.config, stack.services);
  });
  afterAll(async () => {
    await stack.close();
    await smtp.close();
  });
  // What a test left queued (the notice of a reset) is sent and dropped.
  afterEach(async () => {
    await drain();
    smtp.received.length = 0;
  });

  it("mails each account its own link: the address's owner and the account whose username is that address", async () => {
    const owner = await stack.services.users.create({ username: 'grace', password: PASSWORD });
    await stack.services.users.setEmail({ id: owner.id }, 'grace@example.org', { verified: true });
    const squatter = await stack.services.users.create({ username: 'Grace@Example.org', password: PASSWORD });
    await stack.services.users.setEmail({ id: squatter.id }, 'squatter@evil.example', { verified: true });

    expect((await request(app).post('/account/password-reset').send({ email: 'grace@example.org' })).status).toBe(202);
    await drain();
    const mails = smtp.received.splice(0);
    expect(mails.map((m) => m.to[0]).sort()).toEqual(['grace@example.org', 'squatter@evil.example']);
    expect(mails.every((m) => m.subject === 'Reset your authd password')).toBe(true);

    // The owner's link resets the owner's password, and only that.
    const ownersLink = tokenIn(mails.find((m) => m.to[0] === 'grace@example.org')!, '/reset');
    const confirmed = await request(app)
      .post('/account/password-reset/confirm')
      .send({ token: ownersLink, new_password: NEW_PASSWORD });
    expect(confirmed.status).toBe(200);
    expect((await stack.services.users.verifyLogin('grace', NEW_PASSWORD)).ok).toBe(true);
    expect((await stack.services.users.verifyLogin('Grace@Example.org', PASSWORD)).ok).toBe(true);
  });

  it('mails one link when the username and the address name the same account', async () => {
    const user = await stack.services.users.create({ username: 'heidi@example.org', password: PASSWORD });
    await stack.services.users.setEmail({ id: user.id }, 'Heidi@Example.org', { verified: true });
    expect((await request(app).post('/account/password-reset').send({ username: 'heidi@example.org' })).status).toBe(
      202,
    );
    await drain();
    expect(smtp.received.splice(0).map((m) => m.to)).toEqual([['Heidi@example.org']]);
  });
});
