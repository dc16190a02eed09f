/**
 * The process itself goes away. SIGKILL in the middle of a burst of refreshes must leave every
 * refresh-token family whole (rotation is one SQL statement: consume the parent, insert the child),
 * and the families must carry on after a restart. SIGTERM must stop accepting, let in-flight
 * requests finish, close the pools and exit 0 within AUTHD_SHUTDOWN_TIMEOUT.
 *
 * Runs the built server (dist/) as its own process on a scratch database of DATABASE_URL and
 * the Redis of REDIS_URL (under a key prefix of its own).
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { Redis } from 'ioredis';
import { Client } from 'pg';
import { createScratchDatabase, tempDir } from '../support/backends';
import { startServerProcess, type ServerProcess } from '../support/processes';
import {
  call,
  endpointOf,
  ISSUER,
  jwtPayload,
  missingRequirement,
  PASSWORD,
  registerInsteadOfSuite,
  sleep,
  viaProxy,
  waitUntil,
  withSeedServices,
  type Outcome,
} from './harness';
import { endsWithPgTerminate, startTcpProxy, type LinkRecord } from './tcp-proxy';
import { scaled } from '../support/timing';

jest.setTimeout(scaled(40_000));

const BURST_USERS = ['burst-0', 'burst-1', 'burst-2', 'burst-3', 'burst-4'];
const SESSIONS = 30;
const ROUNDS = 8;
/** Every third session sends each refresh three times at once (two tabs and a retry). */
const COPIES = (i: number) => (i % 3 === 0 ? 3 : 1);
const SHUTDOWN_TIMEOUT_S = 10;

const requirement = missingRequirement();

function acceptsConnections(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** A GET on a connection of its own (no pooled socket can answer for it). */
function freshGet(port: number, pathname: string): Promise<{ status?: number; code?: string }> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: pathname, agent: false, timeout: 5000 }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (error: NodeJS.ErrnoException) => resolve({ code: error.code ?? error.message }));
  });
}

interface FormAnswer {
  status: number | undefined;
  // biome-ignore lint/suspicious/noExplicitAny: the JSON of a response, read field by field
  body: any;
  headers: http.IncomingHttpHeaders;
  endedAt: number;
  socket: net.Socket;
}

/** POST a form through a given agent (node:http, so the connection handling is the agent's). */
function postForm(
  port: number,
  pathname: string,
  form: Record<string, string>,
  agent: http.Agent,
): Promise<FormAnswer> {
  const body = new URLSearchParams(form).toString();
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        path: pathname,
        method: 'POST',
        agent,
        timeout: 30_000,
        headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        const socket = res.socket;
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => {
          text += d;
        });
        res.on('end', () => {
          let parsed: unknown;
          try {
            parsed = JSON.parse(text);
          } catch {
            parsed = text;
          }
          resolve({ status: res.statusCode, body: parsed, headers: res.headers, endedAt: Date.now(), socket });
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error('client timeout')));
    req.on('error', reject);
    req.end(body);
  });
}

describe('crash and shutdown of the server process', () => {
  if (requirement) {
    registerInsteadOfSuite(requirement, __filename);
    return;
  }
  const REDIS_URL = process.env.REDIS_URL!;

  let scratch: { url: string; drop(): Promise<void> } | undefined;
  let keysDir: string | undefined;
  const prefixes: string[] = [];
  const servers: ServerProcess[] = [];

  function serverEnv(extra: Record<string, string> = {}): Record<string, string> {
    const prefix = `authd-crash:${crypto.randomBytes(4).toString('hex')}:`;
    prefixes.push(prefix);
    return {
      NODE_ENV: 'test',
      AUTHD_ISSUER: ISSUER,
      DATABASE_URL: scratch!.url,
      REDIS_URL,
      AUTHD_REDIS_PREFIX: prefix,
      AUTHD_KEYS_DIR: keysDir!,
      AUTHD_ARGON2_MEMORY_KIB: '8192',
      AUTHD_ARGON2_TIME_COST: '1',
      AUTHD_METRICS_PORT: '0',
      ...extra,
    };
  }

  async function start(env: Record<string, string>): Promise<ServerProcess> {
    const server = await startServerProcess(env);
    servers.push(server);
    return server;
  }

  async function onScratch<Row extends Record<string, unknown>>(sql: string, params: unknown[] = []): Promise<Row[]> {
    const db = new Client({ connectionString: scratch!.url });
    await db.connect();
    try {
      return (await db.query<Row>(sql, params)).rows;
    } finally {
      await db.end();
    }
  }

  beforeAll(async () => {
    scratch = await createScratchDatabase();
    keysDir = tempDir('authd-crash-');
    await withSeedServices(scratch.url, keysDir, async (s) => {
      await s.clientService.create({
        id: 'web',
        name: 'Web login',
        confidential: false,
        firstParty: true,
        grantTypes: ['password', 'refresh_token'],
        scopes: ['profile', 'read'],
        defaultScopes: ['profile', 'read'],
        audience: 'https://api.example.test',
      });
      for (const username of [...BURST_USERS, 'drain-0', 'drain-1'])
        await s.users.create({ username, password: PASSWORD, scopes: ['profile', 'read'] });
    });
  }, 60_000);

  afterAll(async () => {
    for (const server of servers)
      if (server.child.exitCode === null && server.child.signalCode === null) await server.stop('SIGKILL');
    await scratch?.drop();
    if (keysDir) fs.rmSync(keysDir, { recursive: true, force: true });
    const cleaner = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
    try {
      await cleaner.connect();
      for (const prefix of prefixes) {
        let cursor = '0';
        do {
          const [next, keys] = await cleaner.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
          cursor = next;
          if (keys.length) await cleaner.del(...keys);
        } while (cursor !== '0');
      }
    } finally {
      cleaner.disconnect();
    }
  }, 60_000);

  const login = (base: string, username: string) =>
    call(base, '/oauth/token', 'password', {
      form: { grant_type: 'password', client_id: 'web', username, password: PASSWORD },
    });
  const refresh = (base: string, refreshToken: string) =>
    call(base, '/oauth/token', 'refresh', {
      form: { grant_type: 'refresh_token', client_id: 'web', refresh_token: refreshToken },
    });
  const jti = (refreshToken: string) => jwtPayload(refreshToken).jti as string;

  /** Sessions whose number of unconsumed refresh tokens is not exactly one (the family's head). */
  const forkedOrHeadless = () =>
    onScratch<{ session_id: string; live: number }>(
      `SELECT session_id, count(*) FILTER (WHERE consumed_at IS NULL)::int AS live FROM refresh_tokens GROUP BY session_id
     HAVING count(*) FILTER (WHERE consumed_at IS NULL) <> 1`,
    );

  it('SIGKILL during a burst of refreshes leaves no family forked and no half-written rotation; every family carries on after a restart', async () => {
    // A long grace window: the restart must not race it (a client's newest token may be the
    // parent of a rotation whose answer the kill swallowed).
    const env = serverEnv({ AUTHD_REFRESH_REUSE_GRACE: '120' });
    const first = await start(env);

    interface Family {
      sid: string;
      latest: string;
      received: Set<string>;
      refusals: Outcome[];
      cutOff: number;
      roundsDone: number;
      forkSeen: boolean;
    }
    const families: Family[] = [];
    while (families.length < SESSIONS) {
      // One login per user at a time: the brute-force throttle counts concurrent attempts.
      const answers = await Promise.all(BURST_USERS.map((u) => login(first.url, u)));
      for (const a of answers) {
        expect(a.status).toBe(200);
        families.push({
          sid: String(jwtPayload(a.body.access_token).sid),
          latest: a.body.refresh_token,
          received: new Set([jti(a.body.refresh_token)]),
          refusals: [],
          cutOff: 0,
          roundsDone: 0,
          forkSeen: false,
        });
      }
    }

    // The burst: every family refreshes ROUNDS times in a row, all families at once; SIGKILL lands
    // at a random point after about a third of it.
    const total = families.reduce((n, _f, i) => n + COPIES(i) * ROUNDS, 0);
    const killAfter = Math.floor(total / 3) + crypto.randomInt(Math.floor(total / 4));
    let answered = 0;
    let killedAt: number | undefined;
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) =>
      first.child.once('exit', (code, signal) => r({ code, signal })),
    );
    const burstStart = Date.now();
    await Promise.all(
      families.map(async (family, i) => {
        for (let round = 0; round < ROUNDS; round++) {
          const answers = await Promise.all(Array.from({ length: COPIES(i) }, () => refresh(first.url, family.latest)));
          const fresh = answers.filter((a) => a.status === 200);
          answered += fresh.length;
          family.cutOff += answers.filter((a) => a.status === undefined).length;
          family.refusals.push(...answers.filter((a) => a.status !== undefined && a.status !== 200));
          for (const a of fresh) family.received.add(jti(a.body.refresh_token));
          // The loser of a race gets the family's head through the grace window: the same token.
          if (new Set(fresh.map((a) => jti(a.body.refresh_token))).size > 1) family.forkSeen = true;
          if (fresh.length === 0) return; // the server is gone
          family.latest = fresh[0].body.refresh_token;
          family.roundsDone++;
          if (killedAt === undefined && answered >= killAfter) {
            killedAt = Date.now();
            first.child.kill('SIGKILL');
          }
        }
      }),
    );
    const exit = await exited;
    expect(killedAt).toBeDefined();
    expect(exit).toEqual({ code: null, signal: 'SIGKILL' });
    const cutOff = families.reduce((n, f) => n + f.cutOff, 0);
    process.stderr.write(
      `[faults] SIGKILL after ${killedAt! - burstStart} ms of the burst: ${answered} refreshes answered, ${cutOff} cut off in flight, ` +
        `rounds done per family ${Math.min(...families.map((f) => f.roundsDone))}..${Math.max(...families.map((f) => f.roundsDone))} of ${ROUNDS}\n`,
    );
    expect(cutOff).toBeGreaterThan(0); // it really died mid-burst
    expect(families.flatMap((f) => f.refusals).map((o) => [o.status, o.body])).toEqual([]);
    expect(families.filter((f) => f.forkSeen).map((f) => f.sid)).toEqual([]);

    // Statements the dead process had sent may still be running: wait for its backends to go.
    const dbName = new URL(scratch!.url).pathname.slice(1);
    await waitUntil(
      "the killed server's database sessions to end",
      async () =>
        (
          await onScratch<{ n: number }>(
            'SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()',
            [dbName],
          )
        )[0].n === 0,
      10_000,
    );

    // Exactly one unconsumed token per family, for all of them.
    const heads = await onScratch<{ session_id: string; live: number; total: number }>(
      `SELECT session_id, count(*) FILTER (WHERE consumed_at IS NULL)::int AS live, count(*)::int AS total FROM refresh_tokens GROUP BY session_id`,
    );
    expect(heads.length).toBe(SESSIONS);
    expect(heads.filter((h) => h.live !== 1)).toEqual([]);
    // No consumed token without a child: a rotation is all or nothing.
    expect(
      await onScratch(
        `SELECT t.session_id, t.jti FROM refresh_tokens t WHERE t.consumed_at IS NOT NULL AND NOT EXISTS (
         SELECT 1 FROM refresh_tokens c WHERE c.session_id = t.session_id AND c.jti <> t.jti AND c.issued_at >= t.consumed_at)`,
      ),
    ).toEqual([]);
    expect(await onScratch('SELECT id, revoked_reason FROM sessions WHERE revoked_at IS NOT NULL')).toEqual([]);
    // Every token a client was handed is in the database (committed before it was sent), and the
    // newest one a client holds is the head or, when the kill swallowed an answer, its parent.
    const rows = await onScratch<{ jti: string; session_id: string; consumed_at: Date | null }>(
      'SELECT jti, session_id, consumed_at FROM refresh_tokens',
    );
    const byJti = new Map(rows.map((r) => [r.jti, r]));
    expect(families.flatMap((f) => [...f.received].filter((id) => byJti.get(id)?.session_id !== f.sid))).toEqual([]);
    const behind = families.filter((f) => byJti.get(jti(f.latest))!.consumed_at !== null);
    for (const f of behind) {
      const latestRow = byJti.get(jti(f.latest))!;
      const descendants = rows.filter((r) => r.session_id === f.sid && !f.received.has(r.jti));
      expect(descendants.length).toBe(1); // exactly the one child whose answer was lost
      expect(latestRow.consumed_at).not.toBeNull();
    }

    // Restart on the same database and keys: each client refreshes with the newest token it holds.
    const second = await start(env);
    const afterRestart = await Promise.all(families.map((f) => refresh(second.url, f.latest)));
    expect(afterRestart.map((a) => [a.status, a.body?.error])).toEqual(families.map(() => [200, undefined]));
    const headOf = new Map(
      (
        await onScratch<{ session_id: string; jti: string }>(
          'SELECT session_id, jti FROM refresh_tokens WHERE consumed_at IS NULL',
        )
      ).map((r) => [r.session_id, r.jti]),
    );
    // Where the client was one behind, it got the head the kill had kept from it; elsewhere a new one.
    expect(afterRestart.map((a, i) => jti(a.body.refresh_token) === headOf.get(families[i].sid))).toEqual(
      families.map(() => true),
    );
    const again = await Promise.all(afterRestart.map((a) => refresh(second.url, a.body.refresh_token)));
    expect(again.map((a) => a.status)).toEqual(families.map(() => 200));
    expect(await forkedOrHeadless()).toEqual([]);
    process.stderr.write(
      `[faults] after the restart: ${behind.length} of ${SESSIONS} clients were one token behind (answer lost to the kill) and got the head; all ${SESSIONS} families rotate on\n`,
    );
    await second.stop('SIGTERM');
  });

  describe('SIGTERM while logins are in flight', () => {
    // Slow hashing: each login spends a second or more in Argon2 (the stored hashes are at t=1, so
    // each login also re-hashes and writes the new hash: a database write during the drain).
    const SLOW_ARGON2 = {
      AUTHD_ARGON2_MEMORY_KIB: '65536',
      AUTHD_ARGON2_TIME_COST: '12',
      AUTHD_ARGON2_QUEUE_TIMEOUT_MS: '30000',
    };
    let observed: {
      signalAt: number;
      refusedAt: number;
      late: { status?: number; code?: string };
      answers: FormAnswer[];
      idleClosedAt: number | undefined;
      exit: { code: number | null; signal: NodeJS.Signals | null; at: number };
      pgLinks: LinkRecord[];
      output: string;
    };

    beforeAll(async () => {
      // Postgres through a (healthy) proxy, to see how each pool connection ends.
      const pg = await startTcpProxy(endpointOf(scratch!.url, 5432));
      // Clients that keep their connections open, as a reverse proxy or a mobile HTTP stack does.
      const agent = new http.Agent({ keepAlive: true });
      try {
        const server = await start(
          serverEnv({
            DATABASE_URL: viaProxy(scratch!.url, pg),
            ...SLOW_ARGON2,
            AUTHD_SHUTDOWN_TIMEOUT: String(SHUTDOWN_TIMEOUT_S),
          }),
        );
        expect((await call(server.url, '/health/ready', 'ready')).status).toBe(200);

        // A connection that is idle when the signal comes (its own agent: the logins must not reuse it).
        let idleClosedAt: number | undefined;
        const idleAgent = new http.Agent({ keepAlive: true });
        const warm = await postForm(server.port, '/oauth/token', { grant_type: 'client_credentials' }, idleAgent);
        expect(warm.status).toBe(401); // any answer will do: it leaves a keep-alive socket behind
        warm.socket.once('close', () => {
          idleClosedAt = Date.now();
          idleAgent.destroy();
        });

        const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((r) =>
          server.child.once('exit', (code, signal) => r({ code, signal, at: Date.now() })),
        );
        const logins = ['drain-0', 'drain-1'].map((username) =>
          postForm(
            server.port,
            '/oauth/token',
            { grant_type: 'password', client_id: 'web', username, password: PASSWORD },
            agent,
          ),
        );
        await sleep(300); // both are hashing now
        const signalAt = Date.now();
        server.child.kill('SIGTERM');
        await waitUntil(
          'new connections to be refused',
          async () => !(await acceptsConnections(server.port)),
          3000,
          10,
        );
        const refusedAt = Date.now();
        const late = await freshGet(server.port, '/health/live');
        const answers = await Promise.all(logins);
        const exit = await exited;
        await waitUntil('the pool connections to close', () => pg.openConnections() === 0, 5000, 20);
        observed = {
          signalAt,
          refusedAt,
          late,
          answers,
          idleClosedAt,
          exit,
          pgLinks: pg.links(),
          output: server.output(),
        };
        const doneAt = Math.max(...answers.map((a) => a.endedAt));
        process.stderr.write(
          `[faults] SIGTERM: refusing after ${refusedAt - signalAt} ms; in-flight logins answered ${answers.map((a) => a.endedAt - signalAt).join('/')} ms ` +
            `after the signal (Connection: ${answers.map((a) => a.headers.connection).join('/')}); idle keep-alive closed after ` +
            `${idleClosedAt === undefined ? 'never' : `${idleClosedAt - signalAt} ms`}; exit ${exit.code} after ${exit.at - signalAt} ms (${exit.at - doneAt} ms after the last answer)\n`,
        );
      } finally {
        agent.destroy();
        await pg.close();
      }
    }, 60_000);

    it('answers the requests in flight', () => {
      expect(
        observed.answers.map((a) => [a.status, typeof a.body?.access_token, typeof a.body?.refresh_token]),
      ).toEqual([
        [200, 'string', 'string'],
        [200, 'string', 'string'],
      ]);
    });

    it('refuses new connections at once, while those requests are still running', () => {
      expect(observed.refusedAt - observed.signalAt).toBeLessThan(1000);
      expect(observed.refusedAt).toBeLessThan(Math.min(...observed.answers.map((a) => a.endedAt)));
      expect(observed.late).toEqual({ code: 'ECONNREFUSED' });
    });

    it('closes idle keep-alive connections at once', () => {
      expect(observed.idleClosedAt).toBeDefined();
      expect(observed.idleClosedAt! - observed.signalAt).toBeLessThan(1000);
    });

    it('closes the database pool cleanly and keeps what the drained requests wrote (their sessions, their audit events)', async () => {
      // Every pool connection ended with the protocol's Terminate message: pool.end(), not a dying process.
      expect(observed.pgLinks.length).toBeGreaterThan(0);
      expect(
        observed.pgLinks
          .filter((l) => !endsWithPgTerminate(l))
          .map((l) => ({ id: l.id, cut: l.cutByProxy, tail: l.clientTail.toString('hex') })),
      ).toEqual([]);
      const written = await onScratch<{ sessions: number; events: number }>(
        `SELECT (SELECT count(*)::int FROM sessions s JOIN users u ON u.id = s.user_id WHERE u.username IN ('drain-0', 'drain-1')) AS sessions,
                (SELECT count(*)::int FROM audit_events a JOIN users u ON u.id = a.user_id
                 WHERE a.type = 'login_succeeded' AND u.username IN ('drain-0', 'drain-1')) AS events`,
      );
      expect(written).toEqual([{ sessions: 2, events: 2 }]);
      expect(observed.output).not.toMatch(/"level":(50|60)/);
    });

    it('exits 0 within AUTHD_SHUTDOWN_TIMEOUT', () => {
      expect({ code: observed.exit.code, signal: observed.exit.signal }).toEqual({ code: 0, signal: null });
      // The timeout bounds the HTTP drain; closing the pools and flushing the audit trail follow it.
      expect(observed.exit.at - observed.signalAt).toBeLessThan(SHUTDOWN_TIMEOUT_S * 1000 + 1000);
    });

    it('exits once the last in-flight request is answered: the connections those requests came on do not hold it up', () => {
      // A connection busy at the signal stays open after its answer (Connection: keep-alive), so
      // server.close() waits for the client to drop it or for keepAliveTimeout (5 s), and meanwhile
      // the client may send new requests on it.
      const doneAt = Math.max(...observed.answers.map((a) => a.endedAt));
      expect({
        msAfterLastAnswer: observed.exit.at - doneAt < 1000 ? 'under 1 s' : observed.exit.at - doneAt,
        connection: observed.answers.map((a) => a.headers.connection),
      }).toEqual({ msAfterLastAnswer: 'under 1 s', connection: ['close', 'close'] });
    });
  });

  it('SIGTERM with a request that outlives AUTHD_SHUTDOWN_TIMEOUT (a stalled upload): the process still exits 0 at the timeout', async () => {
    const server = await start(serverEnv({ AUTHD_SHUTDOWN_TIMEOUT: '1' }));
    // Headers and half a body, then nothing: the request stays in flight until the server gives up on it.
    const stalled = net.connect(server.port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => {
      stalled.once('connect', resolve);
      stalled.once('error', reject);
    });
    stalled.write(
      'POST /oauth/token HTTP/1.1\r\nHost: authd\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\ngrant_type=pass',
    );
    let stalledClosedAt: number | undefined;
    stalled.on('close', () => {
      stalledClosedAt = Date.now();
    });
    stalled.on('error', () => {});
    await sleep(200);
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((r) =>
      server.child.once('exit', (code, signal) => r({ code, signal, at: Date.now() })),
    );
    const signalAt = Date.now();
    server.child.kill('SIGTERM');
    const exit = await exited;
    await waitUntil('the stalled connection to close', () => stalledClosedAt !== undefined, 2000, 10);
    process.stderr.write(
      `[faults] SIGTERM with a stalled upload and a 1 s shutdown timeout: exit ${exit.code} after ${exit.at - signalAt} ms; ` +
        `the stalled connection closed after ${stalledClosedAt! - signalAt} ms\n`,
    );
    expect({ code: exit.code, signal: exit.signal }).toEqual({ code: 0, signal: null });
    expect(exit.at - signalAt).toBeGreaterThanOrEqual(900); // it did wait for the request…
    expect(exit.at - signalAt).toBeLessThan(1000 + 1000); // …but no longer than the timeout
  });
});
