import type request from 'supertest';
import { base32Decode, totpCode, totpStep } from '../../src/mfa/totp';
import { backends, openStack, type TestStack } from '../support/backends';
import { PASSWORD, seed, token, type Fixtures } from '../support/fixtures';

/**
 * The "known device" of the login throttle for a user with MFA: a browser sign-in that went
 * through the second step leaves the same device cookie as a password-only one, and that cookie
 * gets its owner through both steps while a distributed guess has filled the account's ceiling.
 * The password step alone (403 mfa_required) leaves none: a password thief's browser is no known device.
 */

const APP_ORIGIN = 'https://app.test';
const MFA_GRANT = 'urn:authd:params:oauth:grant-type:mfa-otp';
const WRONG = 'not the password at all';
const STEP = 30_000;
const DEVICE_COOKIE = /^authd_device=\d+\.[\w-]{43}; Path=\/oauth; Max-Age=7776000; HttpOnly; SameSite=Strict; Secure$/;

describe.each(backends())('the device cookie after an MFA sign-in on $name', (backend) => {
  let stack: TestStack;
  let f: Fixtures;
  let seq = 0;
  let users = 0;
  const address = () => {
    ++seq;
    return `10.9.${seq >> 8}.${seq & 255}`;
  };

  const cookiesOf = (res: request.Response) =>
    ([] as string[]).concat((res.headers['set-cookie'] as unknown as string[]) ?? []);
  const deviceCookieOf = (res: request.Response) => cookiesOf(res).find((c) => c.startsWith('authd_device='));

  function passwordStep(username: string, ip: string, password = PASSWORD, cookie?: string) {
    return token(
      f.app,
      { grant_type: 'password', client_id: 'spa', username, password },
      { 'X-Forwarded-For': ip, Origin: APP_ORIGIN, ...(cookie && { Cookie: cookie }) },
    );
  }

  function mfaStep(mfaToken: string, otp: string, ip: string, cookie?: string) {
    return token(
      f.app,
      { grant_type: MFA_GRANT, client_id: 'spa', mfa_token: mfaToken, otp },
      { 'X-Forwarded-For': ip, Origin: APP_ORIGIN, ...(cookie && { Cookie: cookie }) },
    );
  }

  async function userWithMfa(): Promise<{ username: string; secret: Buffer }> {
    const username = `device-${++users}@example.com`;
    const user = await stack.services.users.create({ username, password: PASSWORD, scopes: ['profile'] });
    const started = await stack.services.mfa.startEnrolment(user);
    const secret = base32Decode(started.secret);
    await stack.services.mfa.confirmEnrolment(user.id, totpCode(secret, totpStep(stack.clock.now())));
    stack.clock.advance(STEP);
    return { username, secret };
  }

  const currentCode = (secret: Buffer) => totpCode(secret, totpStep(stack.clock.now()));

  /** A complete browser sign-in, both steps: the device cookie (name=value) it left. */
  async function browserSignIn(user: { username: string; secret: Buffer }, ip: string): Promise<string> {
    const first = await passwordStep(user.username, ip);
    expect({ status: first.status, error: first.body.error }).toEqual({ status: 403, error: 'mfa_required' });
    expect(deviceCookieOf(first)).toBeUndefined();
    const second = await mfaStep(first.body.mfa_token, currentCode(user.secret), ip);
    expect(second.status).toBe(200);
    const device = deviceCookieOf(second);
    expect(device).toMatch(DEVICE_COOKIE);
    stack.clock.advance(STEP); // the next sign-in has an unspent code
    return device!.split(';')[0];
  }

  beforeAll(async () => {
    stack = await openStack(backend, { AUTHD_TRUST_PROXY: 'loopback', AUTHD_ARGON2_QUEUE_TIMEOUT_MS: '60000' });
    f = await seed(stack);
    await stack.services.clientService.create({
      id: 'spa',
      name: 'Web app',
      confidential: false,
      firstParty: true,
      grantTypes: ['password', 'refresh_token'],
      scopes: ['profile'],
      defaultScopes: ['profile'],
      audience: 'https://api.test',
      cookieMode: true,
      allowedOrigins: [APP_ORIGIN],
    });
  }, 180_000);
  beforeEach(() => stack.clock.advance(2 * 3600_000));
  afterAll(() => stack.close());

  it('is set by the second step, exactly as after a password-only sign-in, and not by the password step', async () => {
    await browserSignIn(await userWithMfa(), address());
  });

  it("gets its owner through both steps while a distributed guess fills the account's ceiling; a fresh browser is refused", async () => {
    const user = await userWithMfa();
    const device = await browserSignIn(user, address());
    // Ten networks, five wrong passwords each: the per-user ceiling of networks is full.
    for (let a = 0; a < 10; a++) {
      const ip = address();
      for (let i = 0; i < 5; i++)
        expect((await passwordStep(user.username, ip, `${WRONG} ${a}.${i}`)).status).toBe(400);
    }
    const cafe = address();
    const stranger = await passwordStep(user.username, cafe);
    expect({ status: stranger.status, error: stranger.body.error }).toEqual({
      status: 429,
      error: 'temporarily_unavailable',
    });

    const first = await passwordStep(user.username, cafe, PASSWORD, device);
    expect({ status: first.status, error: first.body.error }).toEqual({ status: 403, error: 'mfa_required' });
    const second = await mfaStep(first.body.mfa_token, currentCode(user.secret), cafe, device);
    expect({ status: second.status, error: second.body.error }).toEqual({ status: 200, error: undefined });
    expect(second.body.access_token).toEqual(expect.any(String));
  });
});
