import type { Express } from 'express';
import request from 'supertest';
import { createApp } from '../../src/app';
import { API_ERROR_CODES } from '../../src/errors';
import { backends, openStack, type TestStack } from '../support/backends';
import { PASSWORD, token } from '../support/fixtures';
import { startSmtpServer, type TestSmtpServer } from '../support/smtp';

/**
 * Hostile input at the endpoints round 2 added: the anonymous recovery endpoints, the address
 * change and the MFA endpoints of /account, and the mfa-otp grant. Whatever arrives, the answer
 * is below 500 and in the one error shape, and what was queued leaves the mail worker with
 * nothing stuck and no mail to anyone but real addresses.
 */

const ISSUER = 'https://authd.test';
const MFA_GRANT = 'urn:authd:params:oauth:grant-type:mfa-otp';
const INTERNALS = /\bat (?:\S+ \()?(?:\/|node:|file:)[^\s)]*:\d+:\d+|\/src\/|node_modules/;

/** Values that are not the string a parameter should be. */
const HOSTILE_VALUES: unknown[] = [
  '',
  ' ',
  'a'.repeat(100_000),
  'x\u0000y',
  'line\r\nBcc: victim@example.org',
  '<script>alert(1)</script>@example.org',
  'ＡＤＭＩＮ@ｅｘａｍｐｌｅ.ｏｒｇ',
  '\u202eevil',
  ['a', 'b'],
  { $gt: '' },
  { toString: 'x' },
  42,
  -1,
  1e308,
  true,
  null,
];

function expectSane(res: request.Response, what: string): void {
  if (res.status >= 500) throw new Error(`${what} answered ${res.status}: ${res.text.slice(0, 300)}`);
  if (INTERNALS.test(res.text ?? '')) throw new Error(`${what} leaks internals: ${res.text.slice(0, 300)}`);
  if (res.status >= 400) {
    const { code, ...rest } = (res.body ?? {}) as Record<string, unknown>;
    const keys = Object.keys(rest).sort();
    // The account API's own errors also carry their stable code (API_ERROR_CODES); the OAuth
    // endpoints, the anonymous recovery endpoints and bearer refusals do not.
    const path = (res as unknown as { req: { path: string } }).req.path;
    const plain =
      !/^\/(admin|account)(\/|\?|$)/.test(path) ||
      /^\/account\/(password-reset|email-verification)(\/|\?|$)/.test(path) ||
      res.headers['www-authenticate'] !== undefined;
    const codeOk = plain ? code === undefined : (API_ERROR_CODES as readonly unknown[]).includes(code);
    if (keys.join(',') !== 'error,error_description' || !codeOk)
      throw new Error(`${what}: error body is not {error, error_description[, code]}: ${res.text.slice(0, 200)}`);
  }
}

describe.each(backends())('hostile input at recovery, address change and MFA on $name', (backend) => {
  let stack: TestStack;
  let app: Express;
  let smtp: TestSmtpServer;
  let bearer: string;

  beforeAll(async () => {
    smtp = await startSmtpServer();
    stack = await openStack(backend, {
      AUTHD_SMTP_URL: smtp.url,
      AUTHD_REGISTRATION: 'true',
      AUTHD_LOGIN_MAX_FAILURES: '1000',
      AUTHD_LOGIN_MAX_FAILURES_PER_USER: '100000',
      AUTHD_LOGIN_MAX_FAILURES_PER_IP: '100000',
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
    const user = await stack.services.users.create({ username: 'target', password: PASSWORD });
    await stack.services.users.setEmail({ id: user.id }, 'target@example.org', { verified: true });
    const login = await token(app, {
      grant_type: 'password',
      client_id: 'self',
      username: 'target',
      password: PASSWORD,
    });
    bearer = login.body.access_token;
  }, 180_000);
  afterAll(async () => {
    await stack?.close();
    await smtp?.close();
  });
  // A new throttle window for every case: the per-address limit of the recovery endpoints is 20.
  beforeEach(() => stack.clock.advance(3600_000));

  const anonymous: Array<[string, string[]]> = [
    ['/account/password-reset', ['username', 'email']],
    ['/account/password-reset/confirm', ['token', 'new_password']],
    ['/account/email-verification', ['username', 'email']],
    ['/account/email-verification/confirm', ['token']],
  ];

  it.each(anonymous)('POST %s: every hostile value of every parameter, as JSON and as a form', async (path, names) => {
    for (const name of names) {
      for (const value of HOSTILE_VALUES) {
        stack.clock.advance(3600_000);
        const json = await request(app)
          .post(path)
          .send({ [name]: value });
        expectSane(json, `${path} JSON ${name}=${JSON.stringify(value)?.slice(0, 40)}`);
        if (typeof value === 'string') {
          const form = await request(app)
            .post(path)
            .type('form')
            .send(`${name}=${encodeURIComponent(value)}`);
          expectSane(form, `${path} form ${name}`);
        }
      }
      const repeated = await request(app).post(path).type('form').send(`${name}=a&${name}=b`);
      expectSane(repeated, `${path} repeated ${name}`);
      expect(repeated.status).toBe(400);
    }
    for (const body of ['{"username":', '[]', 'null', '"x"', '{"__proto__":{"admin":true}}']) {
      const res = await request(app).post(path).set('Content-Type', 'application/json').send(body);
      expectSane(res, `${path} body ${body}`);
    }
    expect(({} as Record<string, unknown>).admin).toBeUndefined();
  });

  const signedIn: Array<[string, string, string[]]> = [
    ['PUT', '/account/email', ['email', 'current_password']],
    ['POST', '/account/mfa/totp', ['password']],
    ['POST', '/account/mfa/totp/confirm', ['code']],
    ['POST', '/account/mfa/recovery-codes', ['password', 'otp']],
    ['POST', '/account/mfa/disable', ['password', 'otp', 'recovery_code']],
  ];

  it.each(signedIn)('%s %s: every hostile value of every field', async (method, path, names) => {
    for (const name of names) {
      for (const value of HOSTILE_VALUES) {
        const body = Object.fromEntries(names.map((n) => [n, n === name ? value : 'x']));
        const res = await (method === 'PUT' ? request(app).put(path) : request(app).post(path))
          .set('Authorization', `Bearer ${bearer}`)
          .send(body);
        expectSane(res, `${method} ${path} ${name}=${JSON.stringify(value)?.slice(0, 40)}`);
        expect(res.status).toBeLessThan(500);
      }
    }
    const stored = await stack.services.userRepository.findByNormalizedUsername('target');
    expect({ email: stored?.email, mfa: await stack.services.mfa.isEnabled(stored!.id) }).toEqual({
      email: 'target@example.org',
      mfa: false,
    });
  });

  it('the mfa-otp grant: hostile mfa_token, otp and recovery_code', async () => {
    for (const name of ['mfa_token', 'otp', 'recovery_code']) {
      for (const value of HOSTILE_VALUES.filter((v): v is string => typeof v === 'string')) {
        const res = await request(app)
          .post('/oauth/token')
          .type('form')
          .send(
            new URLSearchParams({
              grant_type: MFA_GRANT,
              client_id: 'self',
              mfa_token: 'A'.repeat(43),
              otp: '123456',
              [name]: value,
            }).toString(),
          );
        expectSane(res, `mfa-otp ${name}`);
        expect([400, 413]).toContain(res.status); // 413: the 100 kB value is over the body limit
      }
    }
  });

  it('leaves nothing stuck in the outbox and mails no one but the real address', async () => {
    await stack.services.mail!.worker.drain();
    expect(await stack.services.mail!.outbox.pending()).toBe(0);
    const recipients = new Set(smtp.received.map((m) => m.to.join(',')));
    expect([...recipients].every((r) => r === 'target@example.org')).toBe(true);
  });
});
