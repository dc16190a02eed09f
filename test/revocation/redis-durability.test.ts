/**
 * Redis is only the fast index over the durable `revocations` table: whatever happens to Redis
 * (FLUSHALL, a restart that loses its data, an outage, a hang), no revoked token may become active
 * again, and once Redis is back the index is rebuilt without restarting authd.
 *
 * Runs against real PostgreSQL (a scratch database from DATABASE_URL) and a private redis-server
 * this file can flush, stop, restart and freeze without disturbing anything else.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import { CLOCK_SKEW_SECONDS } from '@authd/verifier';
import { Redis } from 'ioredis';
import request from 'supertest';
import type { Express } from 'express';
import { createApp } from '../../src/app';
import { KNOWN_NETWORK_TTL_MS } from '../../src/abuse/login-throttle';
import { parseConfig, type Config } from '../../src/config';
import { openServices, type Services } from '../../src/services';
import { createScratchDatabase, FAST_ARGON2, silentLogger, tempDir } from '../support/backends';
import { createTestClock } from '../support/clock';
import { basic, decodeJwt, PASSWORD } from '../support/fixtures';
import { freePort, redisServerAvailable } from '../support/processes';
import { registerInsteadOfSuite, sleep, waitUntil } from '../support/suite';
import { scaled } from '../support/timing';

jest.setTimeout(scaled(60_000));

const PREFIX = 'authd-durability:';
const ISSUER = 'https://authd.durability.test';
const ACCESS_TOKEN_TTL = 300;
const SKEW_MS = CLOCK_SKEW_SECONDS * 1000;
/** An answer that takes longer than this while Redis is down or hung counts as hanging. */
const BOUND_MS = 3_000;

/** Why this file cannot run here, or undefined when it can. */
function missingRequirement(): string | undefined {
  if (!process.env.DATABASE_URL) return 'DATABASE_URL is not set (a PostgreSQL server to create scratch databases on)';
  if (!redisServerAvailable())
    return 'redis-server is not installed (this file runs a private one it can flush, stop and restart)';
  return undefined;
}

/** Calls per command since the server started, from INFO commandstats. */
async function commandCalls(redis: Redis): Promise<Record<string, number>> {
  const info = await redis.info('commandstats');
  const calls: Record<string, number> = {};
  for (const match of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) calls[match[1]] = Number(match[2]);
  return calls;
}

function callsBetween(before: Record<string, number>, after: Record<string, number>): Record<string, number> {
  const diff: Record<string, number> = {};
  for (const [command, n] of Object.entries(after)) {
    const delta = n - (before[command] ?? 0);
    if (delta > 0 && command !== 'info') diff[command] = delta; // our own INFO is not authd's
  }
  return diff;
}

type PrivateRedis = Awaited<ReturnType<typeof startPrivateRedis>>;

/**
 * A private redis-server on a free port, like startRedisServer() from test/support/processes.ts,
 * but safe to stop() and then start() again: that helper's restart() after a stop() waits for an
 * 'exit' event that already happened (a SIGKILLed child has signalCode set, exitCode null).
 * With `snapshots`, it keeps an RDB file in its own directory, so SAVE then a crash (SIGKILL) then
 * start() brings back the older snapshot: what a Redis with default persistence does after a
 * crash, and what a Sentinel failover to a lagging replica looks like to authd.
 */
async function startPrivateRedis(options: { snapshots?: boolean } = {}) {
  const port = await freePort();
  const dir = tempDir('authd-redis-');
  let child: ChildProcess | undefined;
  const running = () => child !== undefined && child.exitCode === null && child.signalCode === null;
  const answers = () =>
    new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
  const stop = async () => {
    if (!running()) return;
    const exited = new Promise((resolve) => child!.once('exit', resolve));
    child!.kill('SIGKILL'); // a crash: nothing written after the last SAVE survives
    await exited;
  };
  const start = async () => {
    if (running()) return;
    const persistence = options.snapshots ? ['--dir', dir, '--dbfilename', 'dump.rdb'] : [];
    child = spawn(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', ...persistence, '--save', '', '--appendonly', 'no'],
      { stdio: 'ignore' },
    );
    await waitUntil(`redis-server on ${port}`, answers, 10_000);
  };
  await start();
  return {
    url: `redis://127.0.0.1:${port}`,
    /** The process id, to freeze it with SIGSTOP. */
    pid: () => child!.pid!,
    stop,
    start,
    async restart() {
      await stop();
      await start();
    },
    async remove() {
      await stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

interface Issued {
  access: string;
  refresh: string;
  jti: string;
  sid: string;
  sub: string;
  exp: number;
}

describe('Redis revocation index: flush, restart, outage', () => {
  const missing = missingRequirement();
  if (missing) {
    registerInsteadOfSuite(
      missing,
      __filename,
      'DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres npm test (with redis-server on the PATH)',
    );
    return;
  }

  const clock = createTestClock();
  let redisServer: PrivateRedis;
  let scratch: Awaited<ReturnType<typeof createScratchDatabase>>;
  let keysDir: string;
  let config: Config;
  let services: Services;
  let app: Express;
  let admin: Redis;
  let rsSecret: string;
  let userCount = 0;

  const key = (suffix: string) => `${PREFIX}{rv}:${suffix}`;
  const EPOCH = key('epoch');
  const reseed = () => (services.revocations as unknown as { reseed(): Promise<void> }).reseed();
  const revocationQueries = (spy: jest.SpyInstance) =>
    spy.mock.calls.filter(([sql]) => /FROM revocations/.test(String(sql))).length;

  /** The instance's environment: the private Redis, the scratch database, fast Argon2. */
  function configEnv(): Record<string, string> {
    return {
      REDIS_URL: redisServer.url,
      DATABASE_URL: scratch.url,
      AUTHD_REDIS_PREFIX: PREFIX,
      AUTHD_KEYS_DIR: keysDir,
      AUTHD_ISSUER: ISSUER,
      AUTHD_ACCESS_TOKEN_TTL: String(ACCESS_TOKEN_TTL),
      AUTHD_METRICS_PORT: '0',
      NODE_ENV: 'test',
      ...FAST_ARGON2,
    };
  }

  beforeAll(async () => {
    [redisServer, scratch] = await Promise.all([startPrivateRedis(), createScratchDatabase()]);
    keysDir = tempDir('authd-keys-');
    config = parseConfig(configEnv());
    services = await openServices(config, { logger: silentLogger, clock });
    app = createApp(config, services);
    admin = new Redis(redisServer.url); // no key prefix: it sees the keys as stored
    await services.clientService.create({
      id: 'web',
      name: 'Web login',
      confidential: false,
      firstParty: true,
      grantTypes: ['password', 'refresh_token'],
      scopes: ['read'],
      defaultScopes: ['read'],
      audience: 'https://api.test',
    });
    rsSecret = (
      await services.clientService.create({
        id: 'orders-api',
        name: 'Orders API',
        confidential: true,
        canIntrospect: true,
        grantTypes: [],
        audience: 'https://api.test',
      })
    ).secret!;
    await reseed(); // start from a complete index, as a running instance would have
    expect(await admin.exists(EPOCH)).toBe(1);
  });

  afterAll(async () => {
    await services?.close();
    admin?.disconnect();
    await redisServer?.remove();
    await scratch?.drop();
    if (keysDir) fs.rmSync(keysDir, { recursive: true, force: true });
  });

  async function newUser(): Promise<{ id: string; username: string }> {
    const username = `user${++userCount}@example.com`;
    const user = await services.users.create({ username, password: PASSWORD, roles: ['user'], scopes: ['read'] });
    return { id: user.id, username };
  }

  function toIssued(body: { access_token: string; refresh_token: string }): Issued {
    const { payload } = decodeJwt(body.access_token);
    return {
      access: body.access_token,
      refresh: body.refresh_token,
      jti: String(payload.jti),
      sid: String(payload.sid),
      sub: String(payload.sub),
      exp: Number(payload.exp),
    };
  }

  async function login(username: string): Promise<Issued> {
    const res = await request(app)
      .post('/oauth/token')
      .type('form')
      .send({ grant_type: 'password', client_id: 'web', username, password: PASSWORD });
    expect(res.status).toBe(200);
    return toIssued(res.body);
  }

  async function refresh(refreshToken: string) {
    return request(app)
      .post('/oauth/token')
      .type('form')
      .send({ grant_type: 'refresh_token', client_id: 'web', refresh_token: refreshToken });
  }

  async function revoke(token: string, hint?: string): Promise<number> {
    const started = performance.now();
    const res = await request(app)
      .post('/oauth/revoke')
      .type('form')
      .send({ client_id: 'web', token, ...(hint && { token_type_hint: hint }) });
    expect(res.status).toBe(200);
    return performance.now() - started;
  }

  /** Introspection as the resource server sees it, and how long it took. */
  async function introspect(token: string): Promise<{ active: boolean; ms: number }> {
    const started = performance.now();
    const res = await request(app)
      .post('/oauth/introspect')
      .set('Authorization', basic('orders-api', rsSecret))
      .type('form')
      .send({ token });
    const ms = performance.now() - started;
    expect(res.status).toBe(200);
    return { active: res.body.active, ms };
  }

  /**
   * One token revoked each way: an access token by its jti (POST /oauth/revoke), a session by its
   * refresh token (both access tokens of the family, the second one from a rotation), and a user
   * (sign out everywhere); plus a live session nothing touched.
   */
  async function revokeEachWay() {
    clock.advance(1000); // a new second: earlier "user" revocations must not reach these tokens
    const [u1, u2, u3, u4] = [await newUser(), await newUser(), await newUser(), await newUser()];
    const byJti = await login(u1.username);
    const familyFirst = await login(u2.username);
    const rotated = await refresh(familyFirst.refresh);
    expect(rotated.status).toBe(200);
    const familyLatest = toIssued(rotated.body);
    const byUser = await login(u3.username);
    const live = await login(u4.username);

    await revoke(byJti.access);
    await revoke(familyLatest.refresh, 'refresh_token');
    await services.revoker.revokeUser(u3.id, 'revoked_by_operator');

    const revoked = {
      'access token (jti)': byJti,
      'session, first access token (sid)': familyFirst,
      'session, rotated access token (sid)': familyLatest,
      'user (not before)': byUser,
    };
    const keys = [key(`jti:${byJti.jti}`), key(`sid:${familyFirst.sid}`), key(`user:${u3.id}`)];
    return { revoked, live, keys, family: familyLatest, userId: u3.id };
  }

  /** Every revoked token inactive and the live one active, each answer within the bound. */
  async function expectRevocationsHold(tokens: Awaited<ReturnType<typeof revokeEachWay>>): Promise<void> {
    const answers: Record<string, boolean> = {};
    for (const [what, issued] of Object.entries(tokens.revoked)) {
      const { active, ms } = await introspect(issued.access);
      answers[what] = active;
      expect(ms).toBeLessThan(BOUND_MS);
    }
    const { active, ms } = await introspect(tokens.live.access);
    answers.live = active;
    expect(ms).toBeLessThan(BOUND_MS);
    expect(answers).toEqual({
      'access token (jti)': false,
      'session, first access token (sid)': false,
      'session, rotated access token (sid)': false,
      'user (not before)': false,
      live: true,
    });
  }

  /** With the index complete, a lookup is answered by Redis alone: one MGET, no revocations query. */
  async function expectAnsweredFromRedis(tokens: Awaited<ReturnType<typeof revokeEachWay>>): Promise<void> {
    const spy = jest.spyOn(services.db, 'query');
    try {
      await expectRevocationsHold(tokens);
      expect(revocationQueries(spy)).toBe(0);
    } finally {
      spy.mockRestore();
    }
  }

  /** Polls (each poll a lookup, which may itself start a re-seed) until a lookup needs no revocations query. */
  async function waitUntilAnsweredFromRedis(what: string, token: string): Promise<void> {
    await waitUntil(what, async () => {
      const spy = jest.spyOn(services.db, 'query');
      try {
        await introspect(token);
        return revocationQueries(spy) === 0;
      } finally {
        spy.mockRestore();
      }
    });
  }

  it('FLUSHALL: every revoked token stays inactive (the database answers), and the index is re-seeded', async () => {
    const tokens = await revokeEachWay();
    expect(await admin.exists(...tokens.keys)).toBe(tokens.keys.length);
    await expectAnsweredFromRedis(tokens);

    await admin.flushall();
    expect(await admin.exists(EPOCH)).toBe(0);

    const spy = jest.spyOn(services.db, 'query');
    try {
      await expectRevocationsHold(tokens);
      expect(revocationQueries(spy)).toBeGreaterThan(0); // the lookups fell back to PostgreSQL
    } finally {
      spy.mockRestore();
    }

    await reseed(); // the lookups above started it; this waits for it (or runs one)
    expect(await admin.exists(EPOCH)).toBe(1);
    expect(await admin.exists(...tokens.keys)).toBe(tokens.keys.length);
    await expectAnsweredFromRedis(tokens);
  });

  it('restart without persistence: still inactive, authd reconnects by itself and answers from Redis again', async () => {
    const tokens = await revokeEachWay();
    await expectAnsweredFromRedis(tokens);

    await redisServer.restart(); // SIGKILL + start: every key is gone
    await expectRevocationsHold(tokens);

    // No restart of authd: its client reconnects, a lookup (or the reconnection) re-seeds the index.
    await waitUntilAnsweredFromRedis('the index to be re-seeded after the restart', tokens.live.access);
    expect(await admin.exists(EPOCH)).toBe(1);
    expect(await admin.exists(...tokens.keys)).toBe(tokens.keys.length);
    await expectAnsweredFromRedis(tokens);
  });

  it('Redis down: answers from PostgreSQL within the bound, revocation and refresh work, not ready; all well once it is back', async () => {
    const tokens = await revokeEachWay();
    const toRevokeWhileDown = await login((await newUser()).username);
    const sessionToEndWhileDown = await login((await newUser()).username);

    await redisServer.stop();
    try {
      await expectRevocationsHold(tokens);
      expect(await introspect(toRevokeWhileDown.access)).toMatchObject({ active: true });

      // Revocations are durable in PostgreSQL even though Redis cannot take them.
      expect(await revoke(toRevokeWhileDown.access)).toBeLessThan(BOUND_MS);
      expect(await revoke(sessionToEndWhileDown.refresh, 'refresh_token')).toBeLessThan(BOUND_MS);
      expect(await introspect(toRevokeWhileDown.access)).toMatchObject({ active: false });
      expect(await introspect(sessionToEndWhileDown.access)).toMatchObject({ active: false });
      const [{ count }] = await services.db.query<{ count: string }>(
        "SELECT count(*) FROM revocations WHERE (kind = 'jti' AND subject = $1) OR (kind = 'sid' AND subject = $2)",
        [toRevokeWhileDown.jti, sessionToEndWhileDown.sid],
      );
      expect(Number(count)).toBe(2);

      // A refresh needs only PostgreSQL.
      const started = performance.now();
      const refreshed = await refresh(tokens.live.refresh);
      expect(performance.now() - started).toBeLessThan(BOUND_MS);
      expect(refreshed.status).toBe(200);
      expect(await introspect(refreshed.body.access_token)).toMatchObject({ active: true });
      expect((await refresh(sessionToEndWhileDown.refresh)).status).toBe(400);

      const notReady = await request(app).get('/health/ready');
      expect(notReady.status).toBe(503);
      expect(notReady.body.checks).toMatchObject({ redis: 'failing', database: 'ok' });
    } finally {
      await redisServer.start(); // back, and empty
    }

    // Without any lookup: the reconnection alone re-seeds, since writes were missed.
    await waitUntil(
      'the revocations made while Redis was down to reach Redis',
      async () =>
        (await admin.exists(EPOCH, key(`jti:${toRevokeWhileDown.jti}`), key(`sid:${sessionToEndWhileDown.sid}`))) === 3,
    );
    expect(await admin.exists(...tokens.keys)).toBe(tokens.keys.length);
    await waitUntil('readiness', async () => (await request(app).get('/health/ready')).status === 200);
    await waitUntilAnsweredFromRedis('lookups to use the index again', tokens.live.access);
    await expectAnsweredFromRedis(tokens);
    expect(await introspect(toRevokeWhileDown.access)).toMatchObject({ active: false });
  });

  it('Redis hung (SIGSTOP): answers, revocations and readiness still come within the bound', async () => {
    const tokens = await revokeEachWay();
    const toRevokeWhileHung = await login((await newUser()).username);
    const pid = redisServer.pid();

    process.kill(pid, 'SIGSTOP'); // our own redis-server, frozen with its sockets open
    try {
      await expectRevocationsHold(tokens);
      expect(await revoke(toRevokeWhileHung.access)).toBeLessThan(BOUND_MS);
      expect(await introspect(toRevokeWhileHung.access)).toMatchObject({ active: false });
      const started = performance.now();
      const ready = await request(app).get('/health/ready');
      expect(performance.now() - started).toBeLessThan(BOUND_MS);
      expect(ready.status).toBe(503);
      expect(ready.body.checks).toMatchObject({ redis: 'failing', database: 'ok' });
    } finally {
      process.kill(pid, 'SIGCONT');
    }

    await waitUntilAnsweredFromRedis('the index to catch up after the hang', tokens.live.access);
    expect(await admin.exists(EPOCH, key(`jti:${toRevokeWhileHung.jti}`))).toBe(2);
    await expectAnsweredFromRedis(tokens);
    expect(await introspect(toRevokeWhileHung.access)).toMatchObject({ active: false });
  });

  it("every entry expires, no later than the last token it covers (+ the rule set's clock skew), also after a re-seed", async () => {
    const tokens = await revokeEachWay();
    const now = clock.now();
    const jtiToken = tokens.revoked['access token (jti)'];
    const latestInFamily = Math.max(
      tokens.revoked['session, first access token (sid)'].exp,
      tokens.revoked['session, rotated access token (sid)'].exp,
    );
    const userToken = tokens.revoked['user (not before)'];
    const slack = 5_000; // Redis counts down in real time while the test clock stands still

    const check = async () => {
      // This scenario's entries: long enough to cover their tokens, never longer than needed.
      const jti = await admin.pttl(key(`jti:${jtiToken.jti}`));
      expect(jti).toBeGreaterThan(jtiToken.exp * 1000 - now - slack);
      expect(jti).toBeLessThanOrEqual(jtiToken.exp * 1000 + SKEW_MS - now);
      const sid = await admin.pttl(key(`sid:${tokens.family.sid}`));
      expect(sid).toBeGreaterThan(latestInFamily * 1000 - now - slack);
      expect(sid).toBeLessThanOrEqual(ACCESS_TOKEN_TTL * 1000 + SKEW_MS);
      const user = await admin.pttl(key(`user:${tokens.userId}`));
      expect(user).toBeGreaterThan(userToken.exp * 1000 - now - slack);
      expect(user).toBeLessThanOrEqual(ACCESS_TOKEN_TTL * 1000 + SKEW_MS);

      // Every key authd has written so far (all scenarios): each one expires.
      const keys = await admin.keys(`${PREFIX}*`);
      expect(keys.length).toBeGreaterThan(3);
      const ttls = Object.fromEntries(await Promise.all(keys.map(async (k) => [k, await admin.pttl(k)] as const)));
      for (const [k, ttl] of Object.entries(ttls)) {
        // The epoch is the marker "this index is complete", not an entry about any token.
        if (k === EPOCH) continue;
        // Revocation entries are bounded by the longest access token; a network a user signed in
        // from is remembered for KNOWN_NETWORK_TTL_MS; other throttle entries by the lockout window.
        const bound = k.startsWith(`${PREFIX}{rv}:`)
          ? ACCESS_TOKEN_TTL * 1000 + SKEW_MS
          : k.startsWith(`${PREFIX}{bf}:kn:`)
            ? KNOWN_NETWORK_TTL_MS
            : Math.max(config.loginThrottle.windowMs, config.loginThrottle.lockoutMaxMs) +
              config.loginThrottle.windowMs;
        expect({ key: k, expires: ttl > 0, withinBound: ttl <= bound }).toEqual({
          key: k,
          expires: true,
          withinBound: true,
        });
      }
    };

    await check();
    await admin.flushall();
    await reseed();
    expect(await admin.exists(EPOCH)).toBe(1);
    await check();
  });

  it('a lookup is one round trip: exactly one MGET and nothing else', async () => {
    const tokens = await revokeEachWay();
    await reseed();
    await introspect(tokens.live.access); // warm up (connections, key ring)

    for (const token of [tokens.live.access, tokens.revoked['session, rotated access token (sid)'].access]) {
      const before = await commandCalls(admin);
      await introspect(token);
      const after = await commandCalls(admin);
      expect(callsBetween(before, after)).toEqual({ mget: 1 });
    }
  });

  it('a Redis restarted from an older snapshot (persistence, or a failover to a lagging replica) does not resurrect a revoked token', async () => {
    // A second instance on a Redis that keeps an RDB file; same database.
    const snapshotting = await startPrivateRedis({ snapshots: true });
    const other = await openServices(parseConfig({ ...configEnv(), REDIS_URL: snapshotting.url }), {
      logger: silentLogger,
      clock,
    });
    const otherAdmin = new Redis(snapshotting.url);
    try {
      const otherApp = createApp(config, other);
      await (other.revocations as unknown as { reseed(): Promise<void> }).reseed();
      expect(await otherAdmin.exists(EPOCH)).toBe(1);
      await otherAdmin.save(); // the snapshot: a complete index, as of now

      clock.advance(1000);
      const issued = await login((await newUser()).username);
      const res = await request(otherApp)
        .post('/oauth/revoke')
        .type('form')
        .send({ client_id: 'web', token: issued.access });
      expect(res.status).toBe(200);
      expect(await otherAdmin.exists(key(`jti:${issued.jti}`))).toBe(1);

      // Redis crashes and comes back from the snapshot: the epoch is there, the revocation is not.
      await snapshotting.stop();
      await waitUntil('authd to notice the lost connection', () => other.redis!.status !== 'ready', 5_000);
      await snapshotting.start();
      await waitUntil('authd to reconnect', () => other.redis!.status === 'ready', 10_000);
      // (Whether the entry is missing now depends on how fast authd reacts to the reconnection, so
      // it is not asserted; with today's code it stays missing and the epoch stays set.)
      await sleep(500); // let anything started by the reconnection finish

      const answer = await request(otherApp)
        .post('/oauth/introspect')
        .set('Authorization', basic('orders-api', rsSecret))
        .type('form')
        .send({ token: issued.access });
      expect(answer.body).toEqual({ active: false });
    } finally {
      await other.close();
      otherAdmin.disconnect();
      await snapshotting.remove();
    }
  });

  it("a failover's late reconnection: a revocation only the database got, from an instance still cut off, is in the copy that makes the index trusted again", async () => {
    // A second instance reaching the same Redis through a proxy this test can cut: after a
    // failover, the instance whose retry delay has not yet run out.
    const proxy = await startCuttableProxy(redisServer.url);
    const late = await openServices(parseConfig({ ...configEnv(), REDIS_URL: proxy.url }), {
      logger: silentLogger,
      clock,
    });
    try {
      const lateApp = createApp(config, late);
      clock.advance(1000);
      const issued = await login((await newUser()).username);
      await waitUntilAnsweredFromRedis('the index to be trusted', issued.access);

      proxy.cut();
      await waitUntil('the late instance to lose Redis', () => late.redis!.status !== 'ready', 5_000);
      // This instance reconnects at once (to the promoted replica, as it were)...
      await admin.client('KILL', 'TYPE', 'normal', 'SKIPME', 'yes');
      await waitUntil('this instance to reconnect', () => services.redis!.status === 'ready', 10_000);
      // ...and the late one revokes meanwhile: its Redis write fails, and so does its DEL of the epoch.
      const revoked = await request(lateApp)
        .post('/oauth/revoke')
        .type('form')
        .send({ client_id: 'web', token: issued.access });
      expect(revoked.status).toBe(200);
      expect(await admin.exists(key(`jti:${issued.jti}`))).toBe(0);

      // Never active here, before or after this instance trusts its index again.
      await waitUntil('this instance to answer from Redis again', async () => {
        const spy = jest.spyOn(services.db, 'query');
        try {
          expect(await introspect(issued.access)).toMatchObject({ active: false });
          return revocationQueries(spy) === 0;
        } finally {
          spy.mockRestore();
        }
      });
      expect(await admin.exists(key(`jti:${issued.jti}`))).toBe(1);
    } finally {
      proxy.restore();
      await late.close();
      await proxy.close();
    }
  });
});

/** A TCP proxy to a Redis URL's port that can drop every connection and refuse new ones. */
async function startCuttableProxy(target: string) {
  const targetPort = Number(new URL(target).port);
  const sockets = new Set<net.Socket>();
  let open = true;
  const server = net.createServer((client) => {
    if (!open) {
      client.destroy();
      return;
    }
    const upstream = net.connect(targetPort, '127.0.0.1');
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => {});
    }
    client.pipe(upstream).pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `redis://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    cut() {
      open = false;
      for (const socket of sockets) socket.destroy();
    },
    restore() {
      open = true;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
