import crypto from 'node:crypto';
import { createSessionRepository } from '../../src/sessions/session-repository';
import type { SessionGrant } from '../../src/sessions/session-store';
import type { Queryable } from '../../src/store/database';
import { backends, openStack, type TestStack } from '../support/backends';

/**
 * The single-use guarantee of refresh rotation, as a store contract that does not depend on the
 * backend interleaving requests by itself (PGlite never does). Two rotations of one token run in
 * lockstep: the n-th statement of each is released only once both have reached their n-th
 * statement, so a check-then-act rotation has both checks pass before either acts, on every
 * backend. The last test runs such a rotation to show the harness catches it.
 */

type Rotate = (db: Queryable, jti: string, now: Date) => Promise<SessionGrant | undefined>;

const rotateWithRepository: Rotate = (db, jti, now) =>
  createSessionRepository(db).rotate(
    jti,
    now,
    { jti: crypto.randomUUID(), kid: 'k', idleExpiresAt: new Date(now.getTime() + 60_000) },
    null,
  );

/** Deliberately wrong: reads, then writes. Never in src. */
const rotateCheckThenAct: Rotate = async (db, jti, now) => {
  const [row] = await db.query<{ session_id: string }>(
    'SELECT session_id FROM refresh_tokens WHERE jti = $1 AND consumed_at IS NULL AND expires_at > $2',
    [jti, now],
  );
  if (!row) return undefined;
  await db.query('UPDATE refresh_tokens SET consumed_at = $2 WHERE jti = $1', [jti, now]);
  const child = crypto.randomUUID();
  await db.query(
    'INSERT INTO refresh_tokens (jti, session_id, kid, issued_at, expires_at) VALUES ($1, $2, $3, $4, $5)',
    [child, row.session_id, 'k', now, new Date(now.getTime() + 60_000)],
  );
  return { sessionId: row.session_id } as SessionGrant;
};

/** Queryables for several callers of one database whose statements are released round by round. */
function lockstep(db: Queryable, parties: number): Array<{ db: Queryable; finish(): void }> {
  const rounds: Array<{ arrived: number; release: () => void; released: Promise<void> }> = [];
  let finished = 0;
  const round = (n: number) => {
    if (!rounds[n]) {
      let release!: () => void;
      const released = new Promise<void>((resolve) => {
        release = resolve;
      });
      rounds[n] = { arrived: 0, release, released };
    }
    return rounds[n];
  };
  // A round opens when every caller still running has reached it.
  const check = (n: number) => {
    if (round(n).arrived + finished >= parties) round(n).release();
  };
  return Array.from({ length: parties }, () => {
    let statements = 0;
    return {
      db: {
        async query(text, params) {
          const n = statements++;
          round(n).arrived++;
          check(n);
          await round(n).released;
          return db.query(text, params);
        },
      } satisfies Queryable,
      finish() {
        finished++;
        for (let n = 0; n < rounds.length; n++) check(n);
      },
    };
  });
}

describe.each(backends({ postgresWithoutRedis: true }))('refresh rotation is single use on $name', (backend) => {
  let stack: TestStack;
  let userId: string;

  beforeAll(async () => {
    stack = await openStack(backend);
    await stack.services.clientService.create({
      id: 'web',
      name: 'Web',
      confidential: false,
      firstParty: true,
      grantTypes: ['password', 'refresh_token'],
      audience: 'https://api.example.test',
    });
    userId = (await stack.services.users.create({ username: 'rita', password: 'correct horse battery staple' })).id;
  });
  afterAll(() => stack.close());

  async function newFamily(): Promise<{ sid: string; jti: string }> {
    const now = new Date(stack.clock.now());
    const sid = crypto.randomUUID();
    const jti = crypto.randomUUID();
    await stack.services.sessions.create({
      id: sid,
      userId,
      clientId: 'web',
      scopes: [],
      createdAt: now,
      expiresAt: new Date(now.getTime() + 86_400_000),
      ip: null,
      userAgent: null,
      firstToken: { jti, kid: 'k', issuedAt: now, expiresAt: new Date(now.getTime() + 60_000) },
      assurance: { amr: ['pwd'], acr: 'aal1', authTime: Math.floor(now.getTime() / 1000) },
    });
    return { sid, jti };
  }

  /** Two rotations of one fresh token in lockstep: how many minted a child, and the family's live tokens. */
  async function raceTwo(rotate: Rotate): Promise<{ winners: number; liveTokens: number }> {
    const { sid, jti } = await newFamily();
    const now = new Date(stack.clock.now());
    const results = await Promise.all(
      lockstep(stack.services.db, 2).map(async (party) => {
        try {
          return await rotate(party.db, jti, now);
        } finally {
          party.finish();
        }
      }),
    );
    const [row] = await stack.services.db.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM refresh_tokens WHERE session_id = $1 AND consumed_at IS NULL',
      [sid],
    );
    return { winners: results.filter((r) => r !== undefined).length, liveTokens: row.n };
  }

  it('lets exactly one of two interleaved rotations mint a child', async () => {
    expect(await raceTwo(rotateWithRepository)).toEqual({ winners: 1, liveTokens: 1 });
  });

  it('catches a check-then-act rotation (the harness really interleaves): both win, the family forks', async () => {
    expect(await raceTwo(rotateCheckThenAct)).toEqual({ winners: 2, liveTokens: 2 });
  });
});
