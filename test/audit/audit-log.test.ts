import type { Express } from 'express';
import request from 'supertest';
import type { AuditRecord } from '../../src/audit/audit-log';
import { rotateSigningKey } from '../../src/tokens/key-management';
import { backends, openStack, type TestStack } from '../support/backends';
import { basic, decodeJwt, PASSWORD, seed, type Fixtures } from '../support/fixtures';

/**
 * The audit trail: which actions leave which event, with who (user, client) and where from (IP,
 * user agent, request id); how it is queried; that it is append-only; and that it never holds a
 * password, a client secret or a token.
 */

const SECOND = 1000;
const LOOPBACK = expect.stringMatching(/^(::ffff:)?127\.0\.0\.1$|^::1$/);
const USER_AGENT = 'audit-test/1.0 (+https://authd.test)';
const WRONG_PASSWORD = 'Tr0ub4dor&3-not-alices';

describe.each(backends())('audit trail on $name', (backend) => {
  let stack: TestStack;
  let f: Fixtures;
  /** Every password, secret and token this suite handles: none may appear in an event. */
  const secrets: string[] = [];

  beforeAll(async () => {
    stack = await openStack(backend);
    f = await seed(stack);
    secrets.push(PASSWORD, WRONG_PASSWORD, f.backend.secret, f.machine.secret, f.thirdParty.secret);
  });
  afterAll(() => stack.close());

  /** POST with a form body, a user agent and a request id of the test's choosing. */
  function post(
    app: Express,
    path: string,
    requestId: string,
    params: Record<string, string>,
    headers: Record<string, string> = {},
  ) {
    return request(app)
      .post(path)
      .type('form')
      .set({ 'User-Agent': USER_AGENT, 'X-Request-Id': requestId, ...headers })
      .send(params);
  }

  async function login(requestId: string, params: Record<string, string> = {}) {
    const res = await post(f.app, '/oauth/token', requestId, {
      grant_type: 'password',
      client_id: 'web',
      username: 'alice@example.com',
      password: PASSWORD,
      ...params,
    });
    for (const t of [res.body.access_token, res.body.refresh_token]) if (typeof t === 'string') secrets.push(t);
    return res;
  }

  async function refresh(requestId: string, refreshToken: string) {
    const res = await post(f.app, '/oauth/token', requestId, {
      grant_type: 'refresh_token',
      client_id: 'web',
      refresh_token: refreshToken,
    });
    for (const t of [res.body.access_token, res.body.refresh_token]) if (typeof t === 'string') secrets.push(t);
    return res;
  }

  /** The one event of this type that the request with this id left. */
  async function eventOf(type: string, requestId: string): Promise<AuditRecord> {
    const events = (await stack.services.audit.query({ types: [type], limit: 1000 })).filter(
      (e) => e.requestId === requestId,
    );
    expect(events).toHaveLength(1);
    return events[0];
  }

  /** What every event of a request carries besides its type, ids and details. */
  const fromRequest = (requestId: string) => ({
    id: expect.stringMatching(/^\d+$/),
    occurredAt: new Date(stack.clock.now()),
    ip: LOOPBACK,
    userAgent: USER_AGENT,
    requestId,
  });

  describe('events', () => {
    it('a successful login: login_succeeded with the user, the client, the session and where it came from', async () => {
      const res = await login('audit-login-ok');
      expect(res.status).toBe(200);
      expect(await eventOf('login_succeeded', 'audit-login-ok')).toEqual({
        ...fromRequest('audit-login-ok'),
        type: 'login_succeeded',
        userId: f.alice.id,
        clientId: 'web',
        details: { scope: 'profile read', amr: ['pwd'], sid: decodeJwt(res.body.access_token).payload.sid },
      });
    });

    it('a wrong password: login_failed with the user it was aimed at and the reason', async () => {
      const res = await login('audit-login-wrong', { password: WRONG_PASSWORD });
      expect(res.status).toBe(400);
      expect(await eventOf('login_failed', 'audit-login-wrong')).toEqual({
        ...fromRequest('audit-login-wrong'),
        type: 'login_failed',
        userId: f.alice.id,
        clientId: 'web',
        details: { reason: 'wrong_password' },
      });
    });

    it('an unknown user: login_failed without a user id', async () => {
      const res = await login('audit-login-unknown', { username: 'nobody@example.com' });
      expect(res.status).toBe(400);
      expect(await eventOf('login_failed', 'audit-login-unknown')).toEqual({
        ...fromRequest('audit-login-unknown'),
        type: 'login_failed',
        userId: null,
        clientId: 'web',
        details: { reason: 'unknown_user' },
      });
    });

    it('a refresh: token_refreshed with the session', async () => {
      const { body } = await login('audit-refresh-login');
      const res = await refresh('audit-refresh', body.refresh_token);
      expect(res.status).toBe(200);
      expect(await eventOf('token_refreshed', 'audit-refresh')).toEqual({
        ...fromRequest('audit-refresh'),
        type: 'token_refreshed',
        userId: f.alice.id,
        clientId: 'web',
        details: { sid: decodeJwt(body.refresh_token).payload.sid },
      });
    });

    it('a reuse after the grace window: refresh_token_reuse_detected with the session and how late it came', async () => {
      const { body } = await login('audit-reuse-login');
      expect((await refresh('audit-reuse-first', body.refresh_token)).status).toBe(200);
      stack.clock.advance(11 * SECOND);
      const res = await refresh('audit-reuse-again', body.refresh_token);
      expect(res.status).toBe(400);
      expect(await eventOf('refresh_token_reuse_detected', 'audit-reuse-again')).toEqual({
        ...fromRequest('audit-reuse-again'),
        type: 'refresh_token_reuse_detected',
        userId: f.alice.id,
        clientId: 'web',
        details: { sid: decodeJwt(body.refresh_token).payload.sid, ms_since_consumed: 11 * SECOND },
      });
    });

    it('a reuse inside the grace window: refresh_token_reused_in_grace', async () => {
      const { body } = await login('audit-grace-login');
      expect((await refresh('audit-grace-first', body.refresh_token)).status).toBe(200);
      stack.clock.advance(2 * SECOND);
      expect((await refresh('audit-grace-again', body.refresh_token)).status).toBe(200);
      expect(await eventOf('refresh_token_reused_in_grace', 'audit-grace-again')).toEqual({
        ...fromRequest('audit-grace-again'),
        type: 'refresh_token_reused_in_grace',
        userId: f.alice.id,
        clientId: 'web',
        details: { sid: decodeJwt(body.refresh_token).payload.sid, ms_since_consumed: 2 * SECOND },
      });
    });

    it('revoking a refresh token at /oauth/revoke: session_revoked', async () => {
      const { body } = await login('audit-revoke-login');
      const res = await post(f.app, '/oauth/revoke', 'audit-revoke-refresh', {
        client_id: 'web',
        token: body.refresh_token,
      });
      expect(res.status).toBe(200);
      expect(await eventOf('session_revoked', 'audit-revoke-refresh')).toEqual({
        ...fromRequest('audit-revoke-refresh'),
        type: 'session_revoked',
        userId: f.alice.id,
        clientId: 'web',
        details: { sid: decodeJwt(body.refresh_token).payload.sid, reason: 'revoked_by_client' },
      });
    });

    it('revoking an access token at /oauth/revoke: access_token_revoked with its jti', async () => {
      const { body } = await login('audit-revoke-at-login');
      const res = await post(f.app, '/oauth/revoke', 'audit-revoke-access', {
        client_id: 'web',
        token: body.access_token,
      });
      expect(res.status).toBe(200);
      expect(await eventOf('access_token_revoked', 'audit-revoke-access')).toEqual({
        ...fromRequest('audit-revoke-access'),
        type: 'access_token_revoked',
        userId: f.alice.id,
        clientId: 'web',
        details: { jti: decodeJwt(body.access_token).payload.jti },
      });
    });

    it('a client_credentials grant: client_credentials_granted', async () => {
      const res = await post(
        f.app,
        '/oauth/token',
        'audit-cc',
        { grant_type: 'client_credentials' },
        { Authorization: basic(f.machine.id, f.machine.secret) },
      );
      expect(res.status).toBe(200);
      secrets.push(res.body.access_token);
      expect(await eventOf('client_credentials_granted', 'audit-cc')).toEqual({
        ...fromRequest('audit-cc'),
        type: 'client_credentials_granted',
        userId: null,
        clientId: 'machine',
        details: { scope: 'invoices:read', jti: decodeJwt(res.body.access_token).payload.jti },
      });
    });

    it('a wrong client secret sent in the body: client_authentication_failed with the client id and the reason', async () => {
      const wrong = 'not-the-machine-secret-0123456789';
      secrets.push(wrong);
      const res = await post(f.app, '/oauth/token', 'audit-client-post', {
        grant_type: 'client_credentials',
        client_id: 'machine',
        client_secret: wrong,
      });
      expect(res.status).toBe(401);
      expect(await eventOf('client_authentication_failed', 'audit-client-post')).toEqual({
        ...fromRequest('audit-client-post'),
        type: 'client_authentication_failed',
        userId: null,
        clientId: 'machine',
        details: { reason: 'wrong client secret' },
      });
    });

    it('a wrong client secret sent with Basic: client_authentication_failed with the client id too', async () => {
      const wrong = 'not-the-machine-secret-basic-987654';
      secrets.push(wrong);
      const res = await post(
        f.app,
        '/oauth/token',
        'audit-client-basic',
        { grant_type: 'client_credentials' },
        { Authorization: basic('machine', wrong) },
      );
      expect(res.status).toBe(401);
      expect(await eventOf('client_authentication_failed', 'audit-client-basic')).toEqual({
        ...fromRequest('audit-client-basic'),
        type: 'client_authentication_failed',
        userId: null,
        clientId: 'machine',
        details: { reason: 'wrong client secret' },
      });
    });

    it('user created, password changed, disabled: one event each, for that user, with no request context', async () => {
      const newPassword = 'another horse battery staple';
      secrets.push(newPassword);
      const dave = await stack.services.users.create({
        username: 'dave@example.com',
        password: PASSWORD,
        roles: ['user'],
        scopes: ['read'],
      });
      await stack.services.users.setPassword('dave@example.com', newPassword);
      await stack.services.users.setDisabled('dave@example.com', true);
      const events = await stack.services.audit.query({ userId: dave.id });
      const at = new Date(stack.clock.now());
      const base = {
        id: expect.any(String),
        occurredAt: at,
        userId: dave.id,
        clientId: null,
        ip: null,
        userAgent: null,
        requestId: null,
      };
      expect(events).toEqual([
        { ...base, type: 'user_disabled', details: {} },
        { ...base, type: 'user_password_changed', details: {} },
        { ...base, type: 'user_created', details: { roles: ['user'], scopes: ['read'] } },
      ]);
    });

    it('client created: client_created with its id and kind', async () => {
      const created = await stack.services.clientService.create({
        id: 'audited-client',
        name: 'Audited',
        confidential: true,
        grantTypes: ['client_credentials'],
        scopes: ['read'],
        audience: 'https://api.example.test',
      });
      secrets.push(created.secret!);
      const [event] = (await stack.services.audit.query({ types: ['client_created'], limit: 1000 })).filter(
        (e) => e.clientId === 'audited-client',
      );
      expect(event).toEqual({
        id: expect.any(String),
        occurredAt: new Date(stack.clock.now()),
        type: 'client_created',
        userId: null,
        clientId: 'audited-client',
        ip: null,
        userAgent: null,
        requestId: null,
        details: { grant_types: ['client_credentials'], confidential: true },
      });
    });

    it('key rotation: key_rotated with the new kid and when it activates', async () => {
      const key = await rotateSigningKey(stack.services.keyManagement);
      const [event] = await stack.services.audit.query({ types: ['key_rotated'] });
      expect(event).toEqual({
        id: expect.any(String),
        occurredAt: new Date(stack.clock.now()),
        type: 'key_rotated',
        userId: null,
        clientId: null,
        ip: null,
        userAgent: null,
        requestId: null,
        details: { kid: key.kid, activates_at: key.activatesAt.toISOString(), immediate: false },
      });
    });
  });

  describe('query', () => {
    let erin: { id: string };
    let times: Date[];

    beforeAll(async () => {
      // Three events a minute apart: created at t0, password changed at t1, disabled at t2.
      times = [];
      times.push(new Date(stack.clock.now()));
      erin = await stack.services.users.create({ username: 'erin@example.com', password: PASSWORD });
      stack.clock.advance(60 * SECOND);
      times.push(new Date(stack.clock.now()));
      await stack.services.users.setPassword('erin@example.com', 'erin has a new passphrase');
      secrets.push('erin has a new passphrase');
      stack.clock.advance(60 * SECOND);
      times.push(new Date(stack.clock.now()));
      await stack.services.users.setDisabled('erin@example.com', true);
    });

    const typesOf = (events: AuditRecord[]) => events.map((e) => e.type);

    it("by user: only that user's events, newest first", async () => {
      const events = await stack.services.audit.query({ userId: erin.id });
      expect(typesOf(events)).toEqual(['user_disabled', 'user_password_changed', 'user_created']);
      expect(events.map((e) => e.occurredAt)).toEqual([times[2], times[1], times[0]]);
      expect(events.every((e) => e.userId === erin.id)).toBe(true);
    });

    it('by types', async () => {
      expect(
        typesOf(await stack.services.audit.query({ userId: erin.id, types: ['user_created', 'user_disabled'] })),
      ).toEqual(['user_disabled', 'user_created']);
      const logins = await stack.services.audit.query({ types: ['login_succeeded'], limit: 1000 });
      expect(logins.length).toBeGreaterThan(0);
      expect(logins.every((e) => e.type === 'login_succeeded')).toBe(true);
    });

    it('since (inclusive) and until (exclusive)', async () => {
      expect(typesOf(await stack.services.audit.query({ userId: erin.id, since: times[1] }))).toEqual([
        'user_disabled',
        'user_password_changed',
      ]);
      expect(typesOf(await stack.services.audit.query({ userId: erin.id, until: times[1] }))).toEqual(['user_created']);
      expect(typesOf(await stack.services.audit.query({ userId: erin.id, since: times[1], until: times[2] }))).toEqual([
        'user_password_changed',
      ]);
      expect(await stack.services.audit.query({ userId: erin.id, since: new Date(times[2].getTime() + 1) })).toEqual(
        [],
      );
    });

    it('limit: the newest n', async () => {
      expect(typesOf(await stack.services.audit.query({ userId: erin.id, limit: 1 }))).toEqual(['user_disabled']);
      expect(typesOf(await stack.services.audit.query({ userId: erin.id, limit: 2 }))).toEqual([
        'user_disabled',
        'user_password_changed',
      ]);
      const all = await stack.services.audit.query({ limit: 5 });
      expect(all).toHaveLength(5);
      const ids = all.map((e) => BigInt(e.id));
      expect([...ids].sort((a, b) => (a > b ? -1 : a < b ? 1 : 0))).toEqual(ids);
    });

    it('sees events recorded a moment ago (query flushes first)', async () => {
      stack.services.audit.record({ type: 'user_unlocked', userId: erin.id });
      const [newest] = await stack.services.audit.query({ userId: erin.id, limit: 1 });
      expect(newest.type).toBe('user_unlocked');
    });
  });

  describe('the table', () => {
    it('is append-only: UPDATE and DELETE fail, and the events are intact', async () => {
      const before = await stack.services.audit.query({ limit: 1000 });
      expect(before.length).toBeGreaterThan(10);
      await expect(
        stack.services.db.query("UPDATE audit_events SET type = 'login_succeeded', details = '{}'"),
      ).rejects.toThrow(/append-only/);
      await expect(
        stack.services.db.query('UPDATE audit_events SET user_id = NULL WHERE id = $1', [before[0].id]),
      ).rejects.toThrow(/append-only/);
      await expect(stack.services.db.query('DELETE FROM audit_events')).rejects.toThrow(/append-only/);
      await expect(stack.services.db.query('DELETE FROM audit_events WHERE id = $1', [before[0].id])).rejects.toThrow(
        /append-only/,
      );
      expect(await stack.services.audit.query({ limit: 1000 })).toEqual(before);
    });

    it('holds no password, client secret or token issued in this suite', async () => {
      const events = await stack.services.audit.query({ limit: 1000 });
      expect(events.length).toBeGreaterThan(10);
      expect(secrets.length).toBeGreaterThan(15);
      const text = JSON.stringify(events);
      for (const secret of secrets) expect(text).not.toContain(secret);
      // Nor the raw rows, whatever a future query would select.
      const rows = await stack.services.db.query('SELECT * FROM audit_events');
      const raw = JSON.stringify(rows);
      for (const secret of secrets) expect(raw).not.toContain(secret);
    });

    it('cannot be emptied with TRUNCATE either', async () => {
      const before = await stack.services.audit.query({ limit: 1000 });
      await expect(stack.services.db.query('TRUNCATE audit_events')).rejects.toThrow(/append-only/);
      expect(await stack.services.audit.query({ limit: 1000 })).toEqual(before);
    });
  });
});
