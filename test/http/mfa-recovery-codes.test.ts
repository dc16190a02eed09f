import type { Express } from 'express';
import request from 'supertest';
import { createApp } from '../../src/app';
import { RECOVERY_CODE_COUNT } from '../../src/mfa/recovery-codes';
import { base32Decode, totpCode, totpStep } from '../../src/mfa/totp';
import { backends, openStack, type TestStack } from '../support/backends';
import { PASSWORD, token } from '../support/fixtures';

/**
 * A new set of recovery codes (POST /account/mfa/recovery-codes): it needs the password and a
 * current authenticator code, counts wrong ones in the login throttle, and the old codes stop
 * working the moment the new ones exist — also when two regenerations race.
 */

const ISSUER = 'https://authd.test';
const MFA_GRANT = 'urn:authd:params:oauth:grant-type:mfa-otp';
const STEP = 30_000;
const CODE_SHAPE = /^[2-9A-HJKMNP-Z]{4}-[2-9A-HJKMNP-Z]{4}-[2-9A-HJKMNP-Z]{4}$/;

describe.each(backends())('recovery code regeneration on $name', (backend) => {
  let stack: TestStack;
  let app: Express;
  let ipCounter = 0;
  let userCounter = 0;
  const freshIp = () => `192.0.2.${++ipCounter}`;
  const codeNow = (secret: Buffer) => totpCode(secret, totpStep(stack.clock.now()));

  interface Enrolled {
    id: string;
    username: string;
    secret: Buffer;
    codes: string[];
    bearer: string;
  }

  /** A signed-in user (an account token) who then enrolled an authenticator. */
  async function enrolled(): Promise<Enrolled> {
    const username = `codes-${++userCounter}`;
    const user = await stack.services.users.create({ username, password: PASSWORD });
    const login = await token(app, { grant_type: 'password', client_id: 'self', username, password: PASSWORD });
    expect(login.status).toBe(200);
    const started = await stack.services.mfa.startEnrolment(user);
    const secret = base32Decode(started.secret);
    const codes = await stack.services.mfa.confirmEnrolment(user.id, codeNow(secret));
    stack.clock.advance(STEP);
    return { id: user.id, username, secret, codes, bearer: login.body.access_token };
  }

  const regenerate = (bearer: string, body: object, ip = freshIp()) =>
    request(app)
      .post('/account/mfa/recovery-codes')
      .set('Authorization', `Bearer ${bearer}`)
      .set('X-Forwarded-For', ip)
      .send(body);

  /** A full sign-in with a recovery code through the two-step grant: its status. */
  async function signInWith(username: string, recoveryCode: string): Promise<number> {
    const ip = freshIp();
    const first = await token(
      app,
      { grant_type: 'password', client_id: 'self', username, password: PASSWORD },
      { 'X-Forwarded-For': ip },
    );
    expect(first.body.error).toBe('mfa_required');
    const second = await token(
      app,
      { grant_type: MFA_GRANT, client_id: 'self', mfa_token: first.body.mfa_token, recovery_code: recoveryCode },
      { 'X-Forwarded-For': ip },
    );
    return second.status;
  }

  beforeAll(async () => {
    stack = await openStack(backend, { AUTHD_TRUST_PROXY: 'loopback', AUTHD_ARGON2_QUEUE_TIMEOUT_MS: '60000' });
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
  }, 180_000);
  beforeEach(() => stack.clock.advance(2 * 3600_000));
  afterAll(() => stack.close());

  it('gives ten new codes for the password and a current code; the old ones are dead at once, the new ones work once', async () => {
    const user = await enrolled();
    const res = await regenerate(user.bearer, { password: PASSWORD, otp: codeNow(user.secret) });
    expect(res.status).toBe(200);
    expect(res.headers['cache-control']).toBe('no-store');
    const fresh: string[] = res.body.recovery_codes;
    expect(fresh).toHaveLength(RECOVERY_CODE_COUNT);
    expect(fresh.every((c) => CODE_SHAPE.test(c))).toBe(true);
    expect(fresh.filter((c) => user.codes.includes(c))).toEqual([]);
    expect(await stack.services.mfa.status(user.id)).toMatchObject({ recoveryCodesLeft: RECOVERY_CODE_COUNT });

    expect(await signInWith(user.username, user.codes[0])).toBe(400);
    expect(await signInWith(user.username, fresh[0])).toBe(200);
    expect(await signInWith(user.username, fresh[0])).toBe(400);

    await stack.services.audit.flush();
    const events = await stack.services.audit.query({ userId: user.id, types: ['mfa_recovery_codes_regenerated'] });
    expect(events.map((e) => e.details)).toEqual([{ codes: RECOVERY_CODE_COUNT, actor: user.id }]);
    expect(JSON.stringify(events)).not.toContain(fresh[1]);
  });

  it('refuses a wrong password, a wrong or replayed code and a recovery code instead of one, and keeps the old codes', async () => {
    const user = await enrolled();
    const wrongPassword = await regenerate(user.bearer, { password: 'not it', otp: codeNow(user.secret) });
    expect({ status: wrongPassword.status, body: wrongPassword.body }).toEqual({
      status: 400,
      body: { error: 'invalid_request', code: 'wrong_password', error_description: 'The current password is wrong.' },
    });
    const wrongCode = await regenerate(user.bearer, { password: PASSWORD, otp: '000000' });
    expect({ status: wrongCode.status, body: wrongCode.body }).toEqual({
      status: 400,
      body: {
        error: 'invalid_request',
        code: 'invalid_request',
        error_description: 'The code is wrong or was already used.',
      },
    });
    const notACurrentCode = await regenerate(user.bearer, { password: PASSWORD, recovery_code: user.codes[1] });
    expect(notACurrentCode.status).toBe(400);
    const accepted = codeNow(user.secret);
    expect((await regenerate(user.bearer, { password: PASSWORD, otp: accepted })).status).toBe(200);
    const replay = await regenerate(user.bearer, { password: PASSWORD, otp: accepted });
    expect(replay.body).toEqual({
      error: 'invalid_request',
      code: 'invalid_request',
      error_description: 'The code is wrong or was already used.',
    });
  });

  it('counts wrong codes in the login throttle of the user and IP', async () => {
    const user = await enrolled();
    const ip = freshIp();
    for (let i = 0; i < 5; i++) {
      expect((await regenerate(user.bearer, { password: PASSWORD, otp: `00000${i}` }, ip)).status).toBe(400);
    }
    const locked = await regenerate(user.bearer, { password: PASSWORD, otp: codeNow(user.secret) }, ip);
    expect({ status: locked.status, error: locked.body.error }).toEqual({
      status: 429,
      error: 'temporarily_unavailable',
    });
    expect(await signInWith(user.username, user.codes[2])).toBe(200);
  });

  it('answers 409 for a user without a second factor', async () => {
    const username = `codes-${++userCounter}`;
    await stack.services.users.create({ username, password: PASSWORD });
    const login = await token(app, { grant_type: 'password', client_id: 'self', username, password: PASSWORD });
    const res = await regenerate(login.body.access_token, { password: PASSWORD, otp: '123456' });
    expect({ status: res.status, error: res.body.error }).toEqual({ status: 409, error: 'invalid_request' });
  });

  it('leaves exactly one new set when two regenerations race', async () => {
    const user = await enrolled();
    const sets = await Promise.all([
      stack.services.mfa.regenerateRecoveryCodes(user.id),
      stack.services.mfa.regenerateRecoveryCodes(user.id),
    ]);
    expect(await stack.services.mfa.status(user.id)).toMatchObject({ recoveryCodesLeft: RECOVERY_CODE_COUNT });
    const working = await Promise.all(
      sets.map(async (set) => (await stack.services.mfa.verify(user.id, { recoveryCode: set[0] })) !== undefined),
    );
    expect(working.sort()).toEqual([false, true]);
  });
});
