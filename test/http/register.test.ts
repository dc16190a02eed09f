import type { Express } from 'express';
import request from 'supertest';
import { backends, openStack, type Backend, type TestStack } from '../support/backends';
import { decodeJwt, passwordLogin, seed, type Fixtures } from '../support/fixtures';

/** POST /register: self-registration, off unless AUTHD_REGISTRATION=true. */

type Response = request.Response;

const GOOD_PASSWORD = 'a perfectly decent passphrase';
/** The one answer to an anonymous registration, whether the username was free or taken. */
const received = (username: string) => ({
  username,
  message: 'Registration received. If this username was free, the account now exists: sign in with it.',
});

function register(app: Express, params: Record<string, string>) {
  return request(app).post('/register').type('form').send(params);
}

/** The OAuth error shape: status, code, exactly two string members, uncacheable. */
function expectOAuthError(res: Response, status: number, error: string): void {
  expect({ status: res.status, error: res.body?.error }).toEqual({ status, error });
  expect(res.headers['cache-control']).toBe('no-store');
  expect(Object.keys(res.body).sort()).toEqual(['error', 'error_description']);
  expect(res.body.error_description).toEqual(expect.any(String));
}

async function openSeeded(
  backend: Backend,
  env: Record<string, string> = {},
): Promise<{ stack: TestStack; f: Fixtures }> {
  const stack = await openStack(backend, env);
  return { stack, f: await seed(stack) };
}

describe.each(backends())('registration on $name', (backend) => {
  describe('with the default configuration', () => {
    let stack: TestStack;
    let f: Fixtures;
    beforeAll(async () => {
      ({ stack, f } = await openSeeded(backend));
    });
    afterAll(() => stack.close());

    it('does not exist: POST /register is 404 and creates no one', async () => {
      const res = await register(f.app, { username: 'mallory@example.com', password: GOOD_PASSWORD });
      expectOAuthError(res, 404, 'invalid_request');
      expect(await stack.services.userRepository.findByNormalizedUsername('mallory@example.com')).toBeUndefined();
    });
  });

  describe('with AUTHD_REGISTRATION=true', () => {
    let stack: TestStack;
    let f: Fixtures;
    beforeAll(async () => {
      ({ stack, f } = await openSeeded(backend, { AUTHD_REGISTRATION: 'true' }));
    });
    afterAll(() => stack.close());
    // Ten registrations per address and hour: every test in a fresh hour.
    beforeEach(() => stack.clock.advance(3600_000));

    it('creates the account: 202 with the username and a fixed message, and nothing secret', async () => {
      const res = await register(f.app, { username: 'Bob@Example.com', password: GOOD_PASSWORD });
      expect(res.status).toBe(202);
      expect(res.headers['cache-control']).toBe('no-store');
      expect(res.body).toEqual(received('Bob@Example.com'));
      expect(res.text).not.toContain(GOOD_PASSWORD);
      expect(res.text).not.toMatch(/argon2|password|hash/i);

      const stored = await stack.services.userRepository.findByNormalizedUsername('bob@example.com');
      expect(stored).toMatchObject({ username: 'Bob@Example.com', roles: [], scopes: [], disabledAt: null });
      expect(stored!.passwordHash).toMatch(/^\$argon2id\$/);
    });

    it('lets the new user log in with the web client, with an empty scope (none assigned)', async () => {
      const created = await register(f.app, { username: 'dave@example.com', password: GOOD_PASSWORD });
      expect(created.status).toBe(202);
      const dave = await stack.services.userRepository.findByNormalizedUsername('dave@example.com');

      const res = await passwordLogin(f.app, { username: 'Dave@Example.com', password: GOOD_PASSWORD });
      expect(res.status).toBe(200);
      expect(res.body).toEqual({
        access_token: expect.any(String),
        token_type: 'Bearer',
        expires_in: 900,
        refresh_token: expect.any(String),
        scope: '',
      });
      expect(decodeJwt(res.body.access_token).payload).toMatchObject({
        sub: dave!.id,
        client_id: 'web',
        scope: '',
        roles: [],
      });

      const scoped = await passwordLogin(f.app, {
        username: 'dave@example.com',
        password: GOOD_PASSWORD,
        scope: 'read',
      });
      expectOAuthError(scoped, 400, 'invalid_scope');
    });

    it('accepts a JSON body', async () => {
      const res = await request(f.app)
        .post('/register')
        .type('json')
        .send({ username: 'erin@example.com', password: GOOD_PASSWORD });
      expect(res.status).toBe(202);
      expect(res.body.username).toBe('erin@example.com');
    });

    describe('password policy (NIST SP 800-63B)', () => {
      const TOO_SHORT = 'Password must be at least 8 characters.';
      const TOO_LONG = 'Password must be at most 128 characters.';
      const TOO_COMMON = 'Password is too common: it appears in lists of breached passwords.';

      it.each([
        ['7 characters', 'q7#Lm2!', TOO_SHORT],
        ['a common password', 'password123', TOO_COMMON],
        ['another common password', 'iloveyou', TOO_COMMON],
        ['a common password in other case', 'ILoveYou', TOO_COMMON],
        ['129 characters', 'x7'.repeat(64) + 'y', TOO_LONG],
        ['100 characters that NFKC expands past 128', '\ufdfa'.repeat(100), TOO_LONG],
      ])('refuses %s with 400 invalid_request', async (label, password, description) => {
        const username = `policy-${label.replace(/\W+/g, '-')}@example.com`;
        const res = await register(f.app, { username, password });
        expectOAuthError(res, 400, 'invalid_request');
        expect(res.body.error_description).toBe(description);
        expect(res.text).not.toContain(password);
        expect(await stack.services.userRepository.findByNormalizedUsername(username)).toBeUndefined();
      });

      it('refuses a password holding a NUL byte, which the password grant would never accept', async () => {
        const password = 'nul\u0000inside-a-long-passphrase';
        const login = await passwordLogin(f.app, { password });
        expectOAuthError(login, 400, 'invalid_request');

        const res = await register(f.app, { username: 'nul-password@example.com', password });
        expectOAuthError(res, 400, 'invalid_request');
        expect(
          await stack.services.userRepository.findByNormalizedUsername('nul-password@example.com'),
        ).toBeUndefined();
      });

      it.each([
        ['8 characters', 'q7#Lm2!x'],
        ['128 characters', 'x7'.repeat(64)],
        ['spaces and non-ASCII', ' pässwört mit Leerzeichen '],
      ])('accepts %s', async (label, password) => {
        const username = `policy-ok-${label.replace(/\W+/g, '-')}@example.com`;
        expect((await register(f.app, { username, password })).status).toBe(202);
        expect((await passwordLogin(f.app, { username, password })).status).toBe(200);
      });
    });

    describe('usernames', () => {
      it.each([
        ['the same in other case', 'CAROL@EXAMPLE.COM'],
        ['the same padded with spaces', '  carol@example.com '],
        ['the same in full-width letters (NFKC)', 'ｃａｒｏｌ@example.com'],
      ])('answers %s exactly as a free name (202, same body) and changes nothing', async (_label, username) => {
        const first = await register(f.app, { username: 'carol@example.com', password: GOOD_PASSWORD });
        const carol = await stack.services.userRepository.findByNormalizedUsername('carol@example.com');
        const res = await register(f.app, { username, password: 'another decent passphrase' });
        expect({ status: res.status, body: res.body }).toEqual({
          status: 202,
          body: received(username.normalize('NFKC').trim()),
        });
        expect(Object.keys(res.body)).toEqual(Object.keys(first.body));
        expect(await stack.services.userRepository.findByNormalizedUsername('carol@example.com')).toEqual(carol);
      });

      it("answers a seeded user's name like a free one, hashes all the same, and leaves that user's password alone", async () => {
        const hashing = jest.spyOn(stack.services.registrationUsers, 'create');
        const res = await register(f.app, { username: 'ALICE@example.com', password: GOOD_PASSWORD });
        expect({ status: res.status, body: res.body }).toEqual({ status: 202, body: received('ALICE@example.com') });
        expect(hashing).toHaveBeenCalledTimes(1);
        hashing.mockRestore();
        expect((await passwordLogin(f.app, { password: GOOD_PASSWORD })).status).toBe(400);
        expect((await passwordLogin(f.app)).status).toBe(200);
      });

      const WHITESPACE = 'Username must not contain spaces or control characters.';

      it.each([
        ['a space inside', 'frank smith@example.com', WHITESPACE],
        ['a tab inside', 'frank\tsmith@example.com', WHITESPACE],
        ['a control character', 'frank\u0000@example.com', WHITESPACE],
        ['a zero-width space', 'frank\u200b@example.com', WHITESPACE],
        ['only spaces', '   ', 'Username must not be empty.'],
        ['255 characters', 'f'.repeat(243) + '@example.com', 'Username must be at most 254 characters.'],
      ])('refuses a username with %s with 400 invalid_request', async (_label, username, description) => {
        const res = await register(f.app, { username, password: GOOD_PASSWORD });
        expectOAuthError(res, 400, 'invalid_request');
        expect(res.body.error_description).toBe(description);
      });

      it.each([
        ['username', { password: GOOD_PASSWORD }],
        ['password', { username: 'grace@example.com' }],
      ])('refuses a request without %s with 400 invalid_request', async (_name, params) => {
        const res = await register(f.app, params);
        expectOAuthError(res, 400, 'invalid_request');
      });
    });

    it('creates exactly one account when the same username registers twice at once', async () => {
      const attempts = [
        { username: 'heidi@example.com', password: GOOD_PASSWORD },
        { username: 'Heidi@Example.com', password: 'another decent passphrase' },
      ];
      const results = await Promise.all(attempts.map((attempt) => register(f.app, attempt)));
      expect(results.map((r) => [r.status, r.body.message])).toEqual([
        [202, received('').message],
        [202, received('').message],
      ]);
      const stored = await stack.services.userRepository.findByNormalizedUsername('heidi@example.com');
      const [{ n }] = await stack.services.db.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM users WHERE username_normalized = 'heidi@example.com'",
      );
      expect(n).toBe(1);
      expect(attempts.map((a) => a.username)).toContain(stored?.username);
      // Exactly one of the two passwords works: the one registered under the spelling that was kept.
      const works = await Promise.all(
        attempts.map(
          async ({ password }) => (await passwordLogin(f.app, { username: 'heidi@example.com', password })).status,
        ),
      );
      expect(works).toEqual(attempts.map((a) => (a.username === stored?.username ? 200 : 400)));
    });
  });
});
