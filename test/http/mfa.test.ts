import fs from 'node:fs';
import path from 'node:path';
import type { Express } from 'express';
import request from 'supertest';
import { base32Decode, totpCode, totpStep } from '../../src/mfa/totp';
import { backends, openStack, type TestStack } from '../support/backends';
import { basic, decodeJwt, PASSWORD, seed, seedResourceServer, token, type Fixtures } from '../support/fixtures';

/**
 * Multi-factor sign-in: enrolment through /account, the mfa_required step of the password grant
 * and its completion with the mfa-otp grant, recovery codes, what tokens say about it (amr, acr,
 * auth_time) through refresh and introspection, a client that requires MFA, and the admin reset.
 */

const ISSUER = 'https://authd.test';
const MFA_GRANT = 'urn:authd:params:oauth:grant-type:mfa-otp';
const STEP = 30_000;
const WRONG_CODE = { error: 'invalid_grant', error_description: 'The code is wrong or was already used.' };
const INVALID_MFA_TOKEN = {
  error: 'invalid_grant',
  error_description: 'The mfa_token is invalid, expired or already used; sign in with the password again.',
};
const CLIENT_REQUIRES_MFA = {
  error: 'invalid_grant',
  error_description: 'This client requires a second factor; enrol one at /account.',
};

interface Enrolled {
  id: string;
  username: string;
  secret: Buffer;
  recoveryCodes: string[];
}

describe.each(backends())('MFA on $name', (backend) => {
  let stack: TestStack;
  let f: Fixtures;
  let app: Express;
  let resourceServer: { id: string; secret: string };
  let rootId: string;
  let ipCounter = 0;
  let userCounter = 0;

  /** A fresh client address per test: the login throttle counts per user and IP. */
  const freshIp = () => `203.0.113.${++ipCounter}`;
  const codeAt = (secret: Buffer, offsetSteps = 0) => totpCode(secret, totpStep(stack.clock.now()) + offsetSteps);
  const nowSeconds = () => Math.floor(stack.clock.now() / 1000);

  function passwordLogin(username: string, clientId = 'web', ip = freshIp(), headers: Record<string, string> = {}) {
    return token(
      app,
      { grant_type: 'password', client_id: clientId, username, password: PASSWORD },
      { 'X-Forwarded-For': ip, ...headers },
    );
  }

  /** The first step for a user with MFA: the mfa_token. */
  async function mfaToken(username: string, clientId = 'web', ip = freshIp()): Promise<string> {
    const res = await passwordLogin(username, clientId, ip);
    expect({ status: res.status, error: res.body.error }).toEqual({ status: 403, error: 'mfa_required' });
    return res.body.mfa_token;
  }

  function completeMfa(params: Record<string, string>, ip = freshIp(), clientId = 'web') {
    return token(app, { grant_type: MFA_GRANT, client_id: clientId, ...params }, { 'X-Forwarded-For': ip });
  }

  function account(bearer: string) {
    return {
      get: (url: string) => request(app).get(url).set('Authorization', `Bearer ${bearer}`),
      post: (url: string, body: object) => request(app).post(url).set('Authorization', `Bearer ${bearer}`).send(body),
    };
  }

  /** The admin API with a fresh token (the test clock outruns access-token lifetimes). */
  async function admin() {
    const login = await passwordLogin('root@example.com', 'admin-cli');
    expect(login.status).toBe(200);
    const adminToken: string = login.body.access_token;
    return {
      get: (url: string) => request(app).get(url).set('Authorization', `Bearer ${adminToken}`),
      post: (url: string, body: object = {}) =>
        request(app).post(url).set('Authorization', `Bearer ${adminToken}`).send(body),
      patch: (url: string, body: object) =>
        request(app).patch(url).set('Authorization', `Bearer ${adminToken}`).send(body),
    };
  }

  async function newUser(): Promise<{ id: string; username: string }> {
    const username = `mfa-user-${++userCounter}@example.com`;
    const user = await stack.services.users.create({ username, password: PASSWORD, scopes: ['profile', 'read'] });
    return { id: user.id, username };
  }

  async function accountToken(username: string): Promise<string> {
    const res = await passwordLogin(username, 'self');
    expect({ status: res.status, error: res.body.error }).toEqual({ status: 200, error: undefined });
    return res.body.access_token;
  }

  /** A user with a confirmed authenticator; the clock is then one step on, so a login code is unspent. */
  async function enrolledUser(): Promise<Enrolled> {
    const user = await newUser();
    const bearer = await accountToken(user.username);
    const started = await account(bearer).post('/account/mfa/totp', { password: PASSWORD });
    expect(started.status).toBe(200);
    const secret = base32Decode(started.body.secret);
    const confirmed = await account(bearer).post('/account/mfa/totp/confirm', { code: codeAt(secret) });
    expect(confirmed.status).toBe(200);
    stack.clock.advance(STEP);
    return { ...user, secret, recoveryCodes: confirmed.body.recovery_codes };
  }

  beforeAll(async () => {
    stack = await openStack(backend, {
      AUTHD_TRUST_PROXY: 'loopback',
      AUTHD_BRAND_NAME: 'Acme Sign-in',
      AUTHD_ARGON2_QUEUE_TIMEOUT_MS: '60000',
    });
    f = await seed(stack);
    app = f.app;
    resourceServer = await seedResourceServer(stack);
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
    await stack.services.clientService.create({
      id: 'admin-cli',
      name: 'Admin',
      confidential: false,
      firstParty: true,
      grantTypes: ['password'],
      scopes: ['authd:admin'],
      defaultScopes: ['authd:admin'],
      audience: ISSUER,
    });
    await stack.services.clientService.create({
      id: 'vault',
      name: 'Vault',
      confidential: false,
      firstParty: true,
      grantTypes: ['password', 'refresh_token'],
      scopes: ['read'],
      defaultScopes: ['read'],
      audience: 'https://vault.test',
      requireMfa: true,
    });
    rootId = (
      await stack.services.users.create({ username: 'root@example.com', password: PASSWORD, scopes: ['authd:admin'] })
    ).id;
  });
  afterAll(() => stack.close());

  describe('enrolment', () => {
    it('needs the password, gives a provisioning URI and a local SVG QR code, and turns on with a first valid code', async () => {
      const user = await newUser();
      const bearer = await accountToken(user.username);
      expect((await account(bearer).get('/account/mfa')).body).toEqual({
        enabled: false,
        enrolled_at: null,
        recovery_codes_left: 0,
      });

      const wrongPassword = await account(bearer).post('/account/mfa/totp', { password: 'not the password' });
      expect({ status: wrongPassword.status, body: wrongPassword.body }).toEqual({
        status: 400,
        body: { error: 'invalid_request', code: 'wrong_password', error_description: 'The current password is wrong.' },
      });

      const started = await account(bearer).post('/account/mfa/totp', { password: PASSWORD });
      expect(started.status).toBe(200);
      expect(started.headers['cache-control']).toBe('no-store');
      expect(started.body.secret).toMatch(/^[A-Z2-7]{32}$/);
      expect(started.body.otpauth_uri).toBe(
        `otpauth://totp/Acme%20Sign-in:${encodeURIComponent(user.username)}?secret=${started.body.secret}&issuer=Acme%20Sign-in&algorithm=SHA1&digits=6&period=30`,
      );
      expect(started.body.qr_svg).toMatch(
        /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg" viewBox="0 0 \d+ \d+">.*<\/svg>$/s,
      );
      // Not on yet: a password login still gives tokens.
      expect((await passwordLogin(user.username)).status).toBe(200);

      const secret = base32Decode(started.body.secret);
      const wrong = await account(bearer).post('/account/mfa/totp/confirm', { code: codeAt(secret, 3) });
      expect({ status: wrong.status, error: wrong.body.error }).toEqual({ status: 400, error: 'invalid_request' });
      const confirmed = await account(bearer).post('/account/mfa/totp/confirm', { code: codeAt(secret) });
      expect(confirmed.status).toBe(200);
      expect(confirmed.body.recovery_codes).toHaveLength(10);
      expect(new Set(confirmed.body.recovery_codes).size).toBe(10);
      expect((await account(bearer).get('/account/mfa')).body).toEqual({
        enabled: true,
        enrolled_at: new Date(stack.clock.now()).toISOString(),
        recovery_codes_left: 10,
      });

      // Once on, neither a second confirm nor a new enrolment replaces it.
      expect((await account(bearer).post('/account/mfa/totp/confirm', { code: codeAt(secret, 1) })).status).toBe(409);
      expect((await account(bearer).post('/account/mfa/totp', { password: PASSWORD })).status).toBe(409);
      const audit = await stack.services.audit.query({ userId: user.id, types: ['mfa_enabled'] });
      expect(audit).toHaveLength(1);
    });

    it('stores the secret encrypted and the recovery codes as digests, under a key file readable by its owner only', async () => {
      const user = await enrolledUser();
      const [row] = await stack.services.db.query<{ secret_sealed: string }>(
        'SELECT secret_sealed FROM mfa_totp WHERE user_id = $1',
        [user.id],
      );
      expect(row.secret_sealed).toMatch(/^v1\./);
      expect(row.secret_sealed).not.toContain(user.secret.toString('base64url'));
      const digests = await stack.services.db.query<{ code_digest: string }>(
        'SELECT code_digest FROM mfa_recovery_codes WHERE user_id = $1',
        [user.id],
      );
      expect(digests).toHaveLength(10);
      const stored = JSON.stringify(digests);
      for (const code of user.recoveryCodes) {
        expect(stored).not.toContain(code);
        expect(stored).not.toContain(code.replace(/-/g, ''));
      }
      const keyFile = path.join(stack.config.keysDir, 'mfa.key');
      expect(fs.statSync(keyFile).mode & 0o777).toBe(0o600);
    });
  });

  describe('the password grant', () => {
    it('answers a correct password of a user with MFA with 403 mfa_required and a short-lived mfa_token, no tokens', async () => {
      const user = await enrolledUser();
      const res = await passwordLogin(user.username);
      expect(res.status).toBe(403);
      expect(res.headers['cache-control']).toBe('no-store');
      expect(res.body).toEqual({
        error: 'mfa_required',
        error_description:
          'A second factor is required: send the mfa_token with an authenticator or recovery code (grant_type urn:authd:params:oauth:grant-type:mfa-otp).',
        mfa_token: expect.stringMatching(/^[\w-]{43}$/),
        expires_in: 300,
      });
      // Opaque: not a JWT, and no access token anywhere.
      expect(res.body.mfa_token.split('.')).toHaveLength(1);
      const [stored] = await stack.services.db.query<{ n: string }>(
        'SELECT count(*) AS n FROM mfa_challenges WHERE token_digest = $1',
        [res.body.mfa_token],
      );
      expect(Number(stored.n)).toBe(0);
    });

    it('completes with a current code: tokens that say pwd+otp, aal2 and when', async () => {
      const user = await enrolledUser();
      const mfa = await mfaToken(user.username);
      const res = await completeMfa({ mfa_token: mfa, otp: codeAt(user.secret) });
      expect({ status: res.status, error: res.body.error }).toEqual({ status: 200, error: undefined });
      expect(res.body).toEqual({
        access_token: expect.any(String),
        token_type: 'Bearer',
        expires_in: 900,
        refresh_token: expect.any(String),
        scope: 'profile read',
      });
      expect(decodeJwt(res.body.access_token).payload).toMatchObject({
        sub: user.id,
        amr: ['pwd', 'otp', 'mfa'],
        acr: 'aal2',
        auth_time: nowSeconds(),
      });
    });

    it('accepts one step of clock drift either way, and not two', async () => {
      const user = await enrolledUser();
      for (const offset of [-1, 1]) {
        stack.clock.advance(3 * STEP); // past every step used so far
        const res = await completeMfa({ mfa_token: await mfaToken(user.username), otp: codeAt(user.secret, offset) });
        expect({ offset, status: res.status }).toEqual({ offset, status: 200 });
      }
      stack.clock.advance(3 * STEP);
      const tooFar = codeAt(user.secret, 2);
      if (![-1, 0, 1].some((o) => codeAt(user.secret, o) === tooFar)) {
        expect((await completeMfa({ mfa_token: await mfaToken(user.username), otp: tooFar })).body).toEqual(WRONG_CODE);
      }
    });

    it("takes each code once: a replay inside its window is refused, the next step's code works", async () => {
      const user = await enrolledUser();
      const code = codeAt(user.secret);
      expect((await completeMfa({ mfa_token: await mfaToken(user.username), otp: code })).status).toBe(200);
      expect((await completeMfa({ mfa_token: await mfaToken(user.username), otp: code })).body).toEqual(WRONG_CODE);
      // An earlier step's code is spent too once a later one was accepted.
      expect(
        (await completeMfa({ mfa_token: await mfaToken(user.username), otp: codeAt(user.secret, -1) })).body,
      ).toEqual(WRONG_CODE);
      stack.clock.advance(STEP);
      expect((await completeMfa({ mfa_token: await mfaToken(user.username), otp: codeAt(user.secret) })).status).toBe(
        200,
      );
    });

    it('lets exactly one of two concurrent requests with the same code win', async () => {
      const user = await enrolledUser();
      const [first, second] = [await mfaToken(user.username), await mfaToken(user.username)];
      const code = codeAt(user.secret);
      const answers = await Promise.all([
        completeMfa({ mfa_token: first, otp: code }),
        completeMfa({ mfa_token: second, otp: code }),
      ]);
      expect(answers.map((r) => r.status).sort()).toEqual([200, 400]);
      expect(answers.find((r) => r.status === 400)!.body).toEqual(WRONG_CODE);

      // One mfa_token sent twice at once with two valid codes: it is spent once.
      stack.clock.advance(STEP);
      const shared = await mfaToken(user.username);
      const twice = await Promise.all([
        completeMfa({ mfa_token: shared, otp: codeAt(user.secret) }),
        completeMfa({ mfa_token: shared, otp: codeAt(user.secret, 1) }),
      ]);
      expect(twice.map((r) => r.status).sort()).toEqual([200, 400]);
    });

    it('makes the mfa_token single-use, client-bound, short-lived and good for five tries', async () => {
      const user = await enrolledUser();
      // Another client cannot use it (and does not spend it).
      const mfa = await mfaToken(user.username);
      const foreign = await token(
        app,
        { grant_type: MFA_GRANT, mfa_token: mfa, otp: codeAt(user.secret) },
        { Authorization: basic(f.backend.id, f.backend.secret), 'X-Forwarded-For': freshIp() },
      );
      expect(foreign.body).toEqual(INVALID_MFA_TOKEN);
      expect((await completeMfa({ mfa_token: mfa, otp: codeAt(user.secret) })).status).toBe(200);
      // Spent.
      stack.clock.advance(STEP);
      expect((await completeMfa({ mfa_token: mfa, otp: codeAt(user.secret) })).body).toEqual(INVALID_MFA_TOKEN);

      // Five minutes, then it is gone.
      const late = await mfaToken(user.username);
      stack.clock.advance(300_000);
      expect((await completeMfa({ mfa_token: late, otp: codeAt(user.secret) })).body).toEqual(INVALID_MFA_TOKEN);

      // Five wrong codes spend its tries (each from another address, so no lock gets in the way).
      const guessed = await mfaToken(user.username);
      for (let i = 0; i < 5; i++)
        expect((await completeMfa({ mfa_token: guessed, otp: '000000' })).body).toEqual(WRONG_CODE);
      expect((await completeMfa({ mfa_token: guessed, otp: codeAt(user.secret) })).body).toEqual(INVALID_MFA_TOKEN);
      expect((await completeMfa({ mfa_token: 'made-up', otp: codeAt(user.secret) })).body).toEqual(INVALID_MFA_TOKEN);
    });

    it('counts wrong codes in the login throttle of the user and IP, before checking; a correct password does not reset it', async () => {
      const user = await enrolledUser();
      const ip = freshIp();
      for (let i = 0; i < 4; i++) {
        expect(
          (await completeMfa({ mfa_token: await mfaToken(user.username, 'web', ip), otp: `00000${i}` }, ip)).body,
        ).toEqual(WRONG_CODE);
      }
      // The fifth failure arms the lock; from then on even the right code is refused unchecked.
      const fifth = await mfaToken(user.username, 'web', ip);
      expect((await completeMfa({ mfa_token: fifth, otp: '000009' }, ip)).body).toEqual(WRONG_CODE);
      const locked = await completeMfa({ mfa_token: fifth, otp: codeAt(user.secret) }, ip);
      expect({ status: locked.status, error: locked.body.error, retryAfter: locked.headers['retry-after'] }).toEqual({
        status: 429,
        error: 'temporarily_unavailable',
        retryAfter: '60',
      });
      expect((await passwordLogin(user.username, 'web', ip)).status).toBe(429);
      // Another address is not locked out, and the code still works there.
      expect((await completeMfa({ mfa_token: await mfaToken(user.username), otp: codeAt(user.secret) })).status).toBe(
        200,
      );
      const failed = await stack.services.audit.query({ userId: user.id, types: ['mfa_failed'] });
      expect(failed).toHaveLength(5);
      expect(JSON.stringify(failed)).not.toContain('000009');
    });

    it('takes each recovery code once: pwd+mfa, aal2', async () => {
      const user = await enrolledUser();
      const [code] = user.recoveryCodes;
      const res = await completeMfa({ mfa_token: await mfaToken(user.username), recovery_code: code.toLowerCase() });
      expect(res.status).toBe(200);
      expect(decodeJwt(res.body.access_token).payload).toMatchObject({ amr: ['pwd', 'mfa'], acr: 'aal2' });
      expect((await completeMfa({ mfa_token: await mfaToken(user.username), recovery_code: code })).body).toEqual(
        WRONG_CODE,
      );
      const both = await completeMfa({
        mfa_token: await mfaToken(user.username),
        recovery_code: user.recoveryCodes[1],
        otp: codeAt(user.secret),
      });
      expect({ status: both.status, body: both.body }).toEqual({
        status: 400,
        body: {
          error: 'invalid_request',
          error_description: 'Send exactly one of the otp and recovery_code parameters.',
        },
      });
      const bearer = (
        await completeMfa(
          { mfa_token: await mfaToken(user.username, 'self'), recovery_code: user.recoveryCodes[1] },
          freshIp(),
          'self',
        )
      ).body.access_token;
      expect((await account(bearer).get('/account/mfa')).body).toMatchObject({ enabled: true, recovery_codes_left: 8 });
    });
  });

  describe('assurance in tokens', () => {
    it('keeps amr, acr and auth_time through refresh, and introspection returns them', async () => {
      const user = await enrolledUser();
      const signedInAt = nowSeconds();
      const first = await completeMfa({ mfa_token: await mfaToken(user.username), otp: codeAt(user.secret) });
      stack.clock.advance(600_000);
      const refreshed = await token(app, {
        grant_type: 'refresh_token',
        client_id: 'web',
        refresh_token: first.body.refresh_token,
      });
      expect(refreshed.status).toBe(200);
      const claims = decodeJwt(refreshed.body.access_token).payload;
      expect(claims).toMatchObject({ amr: ['pwd', 'otp', 'mfa'], acr: 'aal2', auth_time: signedInAt });
      expect(claims.iat).toBe(nowSeconds());
      const introspected = await request(app)
        .post('/oauth/introspect')
        .type('form')
        .set('Authorization', basic(resourceServer.id, resourceServer.secret))
        .send({ token: refreshed.body.access_token });
      expect(introspected.body).toMatchObject({
        active: true,
        amr: ['pwd', 'otp', 'mfa'],
        acr: 'aal2',
        auth_time: signedInAt,
      });
    });

    it('says pwd and aal1 for a password-only sign-in, and a refresh never raises it (not even after enrolling)', async () => {
      const user = await newUser();
      const signedInAt = nowSeconds();
      const first = await passwordLogin(user.username);
      expect(decodeJwt(first.body.access_token).payload).toMatchObject({
        amr: ['pwd'],
        acr: 'aal1',
        auth_time: signedInAt,
      });
      stack.clock.advance(60_000);
      const refreshed = await token(app, {
        grant_type: 'refresh_token',
        client_id: 'web',
        refresh_token: first.body.refresh_token,
      });
      expect(decodeJwt(refreshed.body.access_token).payload).toMatchObject({
        amr: ['pwd'],
        acr: 'aal1',
        auth_time: signedInAt,
      });
    });

    it('puts none of them in client_credentials tokens', async () => {
      const res = await token(
        app,
        { grant_type: 'client_credentials' },
        { Authorization: basic(f.machine.id, f.machine.secret) },
      );
      const claims = decodeJwt(res.body.access_token).payload;
      expect([claims.amr, claims.acr, claims.auth_time]).toEqual([undefined, undefined, undefined]);
    });
  });

  describe('a client that requires MFA', () => {
    it('refuses users without a second factor, takes those with one through the second step', async () => {
      const plain = await newUser();
      const refused = await passwordLogin(plain.username, 'vault');
      expect({ status: refused.status, body: refused.body }).toEqual({ status: 400, body: CLIENT_REQUIRES_MFA });
      const user = await enrolledUser();
      const res = await completeMfa(
        { mfa_token: await mfaToken(user.username, 'vault'), otp: codeAt(user.secret) },
        freshIp(),
        'vault',
      );
      expect(res.status).toBe(200);
      expect(decodeJwt(res.body.access_token).payload).toMatchObject({ acr: 'aal2', aud: 'https://vault.test' });
    });

    it('is set through the admin API, and then ends password-only sessions at their next refresh', async () => {
      const user = await newUser();
      const login = await passwordLogin(user.username);
      const patched = await (await admin()).patch('/admin/clients/web', { require_mfa: true });
      expect({ status: patched.status, require_mfa: patched.body.require_mfa }).toEqual({
        status: 200,
        require_mfa: true,
      });
      try {
        stack.clock.advance(10_000); // past the client cache
        const refreshed = await token(app, {
          grant_type: 'refresh_token',
          client_id: 'web',
          refresh_token: login.body.refresh_token,
        });
        expect(refreshed.body).toEqual(CLIENT_REQUIRES_MFA);
        expect((await passwordLogin(user.username)).body).toEqual(CLIENT_REQUIRES_MFA);
      } finally {
        await (await admin()).patch('/admin/clients/web', { require_mfa: false });
        stack.clock.advance(10_000);
      }
      expect((await (await admin()).patch('/admin/clients/machine', { require_mfa: true })).body).toEqual({
        error: 'invalid_request',
        code: 'invalid_client_settings',
        error_description: 'Invalid client: require MFA applies to user sign-ins: it needs the password grant.',
      });
    });
  });

  describe('turning it off', () => {
    it('needs the password and a current code (or a recovery code) from the user', async () => {
      const user = await enrolledUser();
      const bearer = (
        await completeMfa(
          { mfa_token: await mfaToken(user.username, 'self'), otp: codeAt(user.secret) },
          freshIp(),
          'self',
        )
      ).body.access_token;
      stack.clock.advance(STEP);
      const noPassword = await account(bearer).post('/account/mfa/disable', {
        password: 'wrong',
        otp: codeAt(user.secret),
      });
      expect({ status: noPassword.status, body: noPassword.body }).toEqual({
        status: 400,
        body: { error: 'invalid_request', code: 'wrong_password', error_description: 'The current password is wrong.' },
      });
      const noCode = await account(bearer).post('/account/mfa/disable', { password: PASSWORD, otp: '000000' });
      expect({ status: noCode.status, body: noCode.body }).toEqual({
        status: 400,
        body: {
          error: 'invalid_request',
          code: 'invalid_request',
          error_description: 'The code is wrong or was already used.',
        },
      });
      expect(
        (
          await account(bearer).post('/account/mfa/disable', {
            password: PASSWORD,
            recovery_code: user.recoveryCodes[0],
          })
        ).status,
      ).toBe(204);
      expect((await account(bearer).get('/account/mfa')).body).toEqual({
        enabled: false,
        enrolled_at: null,
        recovery_codes_left: 0,
      });
      expect((await passwordLogin(user.username)).status).toBe(200);
      expect(await stack.services.audit.query({ userId: user.id, types: ['mfa_disabled'] })).toHaveLength(1);
    });

    it('can be reset by an admin, who sees the status in the user record; audited', async () => {
      const user = await enrolledUser();
      const api = await admin();
      const shown = await api.get(`/admin/users/${user.id}`);
      expect(shown.body.mfa).toEqual({ enabled: true, enrolled_at: expect.any(String), recovery_codes_left: 10 });
      expect((await api.post(`/admin/users/${user.id}/mfa/reset`)).body).toEqual({ removed: true });
      expect((await api.get(`/admin/users/${user.id}`)).body.mfa).toEqual({
        enabled: false,
        enrolled_at: null,
        recovery_codes_left: 0,
      });
      expect((await passwordLogin(user.username)).status).toBe(200);
      expect((await api.post(`/admin/users/${user.id}/mfa/reset`)).body).toEqual({ removed: false });
      const events = await stack.services.audit.query({ userId: user.id, types: ['mfa_reset'] });
      // Newest first, each naming the admin who acted.
      expect(events.map((e) => e.details)).toEqual([
        { had_mfa: false, actor: rootId },
        { had_mfa: true, actor: rootId },
      ]);
    });
  });

  it('lists the grant in the discovery document, and any password client may use it', async () => {
    const res = await request(app).get('/.well-known/oauth-authorization-server');
    expect(res.body.grant_types_supported).toContain(MFA_GRANT);
    const machine = await token(
      app,
      { grant_type: MFA_GRANT, mfa_token: 'x', otp: '123456' },
      { Authorization: basic(f.machine.id, f.machine.secret) },
    );
    expect(machine.body.error).toBe('unauthorized_client');
  });
});
