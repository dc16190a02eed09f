import crypto from 'node:crypto';
import { Readable } from 'node:stream';
import bcrypt from 'bcryptjs';
import type { Express } from 'express';
import request from 'supertest';
import {
  exportRecord,
  formatRecord,
  csvHeader,
  readUserFile,
  type UserFileFormat,
} from '../../src/users/user-file-format';
import { importRecords, type ImportTotals, type RowFailure } from '../../src/users/user-import';
import { backends, openStack, type TestStack } from '../support/backends';
import { domainError } from '../support/domain-error';
import { decodeJwt, seed, token, type Fixtures } from '../support/fixtures';

/**
 * Importing users with the hashes of the system they come from: every format logs in with the
 * old password and is then stored as Argon2id at authd's parameters; bad rows are refused one by
 * one with their line; re-running skips or updates.
 */
jest.setTimeout(120_000);

const ISSUER = 'https://authd.test';
const ab64 = (bytes: Buffer) => bytes.toString('base64').replace(/=+$/, '').replace(/\+/g, '.');
const salt = crypto.randomBytes(16);

// Fixed vectors: passlib 1.7.4 and Django 3.2 (see test/users/legacy-hashes.test.ts); the rest made here.
const PASSLIB = 'pässwörd from passlib';
const DJANGO = 'lètmein from Django';
const NODE = 'a password from node ✓';
const LEGACY_USERS: Array<{ username: string; password: string; hash: string }> = [
  {
    username: 'bcrypt-2b@example.com',
    password: PASSLIB,
    hash: '$2b$05$luqDlnXG8e9dmaIa5mXTQO8dRsQwMtr7uNaFE/Ubv1xGa916Pcauq',
  },
  {
    username: 'bcrypt-2y@example.com',
    password: PASSLIB,
    hash: '$2y$05$1e0BjmPr7DmKKnXGwSF2VOS5y4BgNr3.p8WVZ0fDyetPx4zcjDeSy',
  },
  { username: 'bcryptjs@example.com', password: NODE, hash: bcrypt.hashSync(NODE, 8) },
  {
    username: 'passlib-pbkdf2@example.com',
    password: PASSLIB,
    hash: '$pbkdf2-sha256$29000$ZgzBOEdo7b33HkMopTSGMA$iG.RTxBQ9lcHVlSkStP/SW5zNi7EswM9MOcBpt6JKuU',
  },
  {
    username: 'passlib-scrypt@example.com',
    password: PASSLIB,
    hash: '$scrypt$ln=10,r=8,p=1$AYDwvpdy7h3j/F8rZSwlZA$JgeXOlyNYO9CfamUXGjhdPV/TMZwTUJjS8QqcFacB9k',
  },
  {
    username: 'node-scrypt@example.com',
    password: NODE,
    hash: `$scrypt$ln=11,r=8,p=1$${ab64(salt)}$${ab64(crypto.scryptSync(NODE, salt, 32, { N: 2048, r: 8, p: 1 }))}`,
  },
  {
    username: 'pwdlib-argon2id@example.com',
    password: PASSLIB,
    hash: '$argon2id$v=19$m=1024,t=2,p=1$l1Lq3ZvTWgvBuFfKuZcSAg$/kVzv9fIIzBvWvMwaKUOXQ',
  },
  {
    username: 'passlib-argon2i@example.com',
    password: PASSLIB,
    hash: '$argon2i$v=19$m=1024,t=2,p=1$4ry3VmothRAixPgfwzjn3A$1KVSpQ6KKMqfuNc1GhM1Iw',
  },
  {
    username: 'django-pbkdf2@example.com',
    password: DJANGO,
    hash: 'pbkdf2_sha256$20000$seasaltAbc123$ZQBrpO/ynEzT42tGfHgIw0W/MziPHw83PYugyNvHqcQ=',
  },
  {
    username: 'django-argon2@example.com',
    password: DJANGO,
    hash: 'argon2$argon2id$v=19$m=1024,t=2,p=1$c2Vhc2FsdEFiYzEyMw$2HU2PdlIAuLJCf89wodM0g',
  },
];

const jsonl = (records: object[]) => Readable.from(records.map((r) => `${JSON.stringify(r)}\n`).join(''));

describe.each(backends())('user import on $name', (backend) => {
  let stack: TestStack;
  let f: Fixtures;
  let app: Express;

  async function run(
    source: Readable,
    format: UserFileFormat,
    policy: 'skip' | 'update' = 'skip',
    batchSize = 4,
  ): Promise<{ totals: ImportTotals; failures: RowFailure[] }> {
    const failures: RowFailure[] = [];
    const totals = await importRecords(readUserFile(source, format), stack.services.userImporter, {
      policy,
      batchSize,
      onFailure: (x) => failures.push(x),
    });
    return { totals, failures };
  }

  const login = (username: string, password: string) =>
    token(app, { grant_type: 'password', client_id: 'web', username, password });
  const stored = async (username: string) => await stack.services.users.requireUser(username);

  beforeAll(async () => {
    stack = await openStack(backend);
    f = await seed(stack);
    app = f.app;
  });
  afterAll(() => stack.close());

  it("imports every hash format; each user logs in with the old password, which is then stored as Argon2id at authd's parameters", async () => {
    const records = LEGACY_USERS.map(({ username, hash }, i) => ({
      username,
      password_hash: hash,
      email: username.replace('@', `+${i}@`),
      email_verified: i % 2 === 0,
      roles: ['user'],
      scopes: ['profile', 'read'],
      metadata: { org_id: `org-${i}`, plan: 'pro' },
    }));
    const { totals, failures } = await run(jsonl(records), 'jsonl');
    expect({ totals, failures }).toEqual({
      totals: { records: LEGACY_USERS.length, created: LEGACY_USERS.length, updated: 0, skipped: 0, failed: 0 },
      failures: [],
    });

    for (const [i, { username, password, hash }] of LEGACY_USERS.entries()) {
      const before = await stored(username);
      expect(before).toEqual(
        expect.objectContaining({
          username,
          email: username.replace('@', `+${i}@`),
          emailVerified: i % 2 === 0,
          roles: ['user'],
          scopes: ['profile', 'read'],
          metadata: { org_id: `org-${i}`, plan: 'pro' },
          passwordHash: hash.replace(/^argon2\$/, '$'),
          disabledAt: null,
        }),
      );
      const wrong = await login(username, `${password}?`);
      expect({ username, status: wrong.status, body: wrong.body }).toEqual({
        username,
        status: 400,
        body: { error: 'invalid_grant', error_description: 'Invalid username or password.' },
      });
      expect((await stored(username)).passwordHash).toBe(before.passwordHash);

      const ok = await login(username, password);
      expect({ username, status: ok.status }).toEqual({ username, status: 200 });
      expect(decodeJwt(ok.body.access_token).payload).toEqual(
        expect.objectContaining({ sub: before.id, aud: 'https://api.test', roles: ['user'] }),
      );
      const rehashed = (await stored(username)).passwordHash;
      expect({ username, rehashed }).toEqual({
        username,
        rehashed: expect.stringMatching(/^\$argon2id\$v=19\$m=8192,p=1,t=1\$/),
      });
      // The Argon2id hash of the same password: the next login goes through authd's own path.
      expect((await login(username, password)).status).toBe(200);
      expect((await stored(username)).passwordHash).toBe(rehashed);
    }
  });

  it('refuses bad records one by one with their line and imports the rest', async () => {
    await stack.services.users.create({ username: 'taken-email-owner', password: 'an owner of an email address' });
    await stack.services.userImporter.importBatch(
      [
        {
          line: 1,
          username: 'owner2',
          usernameNormalized: 'owner2',
          email: { email: 'Owned@Example.com', normalized: 'owned@example.com' },
          passwordHash: LEGACY_USERS[0].hash,
        },
      ],
      'skip',
    );
    const lines = [
      JSON.stringify({ username: 'fine-1', password_hash: LEGACY_USERS[0].hash }),
      JSON.stringify({ username: 'md5', password_hash: '5f4dcc3b5aa765d61d8327deb882cf99' }),
      '',
      '{"username": "broken json"',
      JSON.stringify({ username: 'expensive', password_hash: `$2b$15$${LEGACY_USERS[0].hash.slice(7)}` }),
      JSON.stringify({ username: 'typo', password: 'plain text', password_hash: LEGACY_USERS[0].hash }),
      JSON.stringify({ username: 'no-hash' }),
      JSON.stringify({ username: 'bad-email', email: 'not an email', password_hash: LEGACY_USERS[0].hash }),
      JSON.stringify({ username: 'email-thief', email: 'OWNED@example.com', password_hash: LEGACY_USERS[0].hash }),
      JSON.stringify({
        username: 'big-metadata',
        metadata: { blob: 'x'.repeat(2000) },
        password_hash: LEGACY_USERS[0].hash,
      }),
      JSON.stringify({ username: 'FINE-1', password_hash: LEGACY_USERS[1].hash }),
      JSON.stringify({ username: 'bad-role', roles: ['a role with spaces'], password_hash: LEGACY_USERS[0].hash }),
      '[1, 2]',
      JSON.stringify({
        username: 'fine-2',
        password_hash: LEGACY_USERS[3].hash,
        id: '6a2f41a0-0c1e-4b1b-9a33-0d9f4f0c1e55',
      }),
    ];
    const { totals, failures } = await run(Readable.from(lines.join('\n')), 'jsonl');
    // Reported as found: a bad record at once, a conflict when its batch is written.
    expect(failures.sort((a, b) => a.line - b.line)).toEqual([
      { line: 2, error: expect.stringMatching(/^password_hash: unknown password hash format/) },
      { line: 4, error: expect.stringMatching(/^not valid JSON/) },
      { line: 5, error: 'password_hash: the bcrypt cost 15 is above the accepted maximum of 13.' },
      { line: 6, error: expect.stringMatching(/^unknown field "password"/) },
      { line: 7, error: 'password_hash is required to create a user.' },
      { line: 8, error: 'Email must look like name@example.com.' },
      { line: 9, error: 'email already belongs to another user.' },
      { line: 10, error: expect.stringMatching(/^Metadata must be at most 1024 bytes/) },
      { line: 11, error: 'username repeats line 1.' },
      { line: 12, error: 'Invalid role name: "a role with spaces".' },
      { line: 13, error: 'not valid JSON: not a JSON object.' },
    ]);
    expect(totals).toEqual({ records: 13, created: 2, updated: 0, skipped: 0, failed: 11 });
    expect((await stored('fine-2')).id).toBe('6a2f41a0-0c1e-4b1b-9a33-0d9f4f0c1e55');
    await expect(stack.services.users.requireUser('email-thief')).rejects.toThrow('No user named "email-thief".');
  });

  it("is idempotent: a second run skips existing usernames, or updates the fields given (a new hash ends the user's sessions)", async () => {
    const first = [
      { username: 'idem-1', password_hash: LEGACY_USERS[3].hash, roles: ['a'], metadata: { org_id: 'one' } },
      { username: 'idem-2', password_hash: LEGACY_USERS[3].hash, email: 'idem2@example.com', email_verified: true },
    ];
    expect((await run(jsonl(first), 'jsonl')).totals).toEqual({
      records: 2,
      created: 2,
      updated: 0,
      skipped: 0,
      failed: 0,
    });
    expect((await run(jsonl(first), 'jsonl')).totals).toEqual({
      records: 2,
      created: 0,
      updated: 0,
      skipped: 2,
      failed: 0,
    });

    const session = await login('idem-1', PASSLIB);
    expect(session.status).toBe(200);
    const update = [
      { username: 'IDEM-1', password_hash: LEGACY_USERS[8].hash, scopes: ['profile'] },
      { username: 'idem-2', email: 'idem2-new@example.com', disabled: true },
      { username: 'idem-3', password_hash: LEGACY_USERS[3].hash },
    ];
    expect((await run(jsonl(update), 'jsonl', 'update')).totals).toEqual({
      records: 3,
      created: 1,
      updated: 2,
      skipped: 0,
      failed: 0,
    });
    expect(await stored('idem-1')).toEqual(
      expect.objectContaining({
        username: 'IDEM-1',
        roles: ['a'],
        scopes: ['profile'],
        metadata: { org_id: 'one' },
        passwordHash: LEGACY_USERS[8].hash,
      }),
    );
    // A changed address is unverified again unless the row says so.
    expect(await stored('idem-2')).toEqual(
      expect.objectContaining({ email: 'idem2-new@example.com', emailVerified: false, disabledAt: expect.any(Date) }),
    );
    const refreshed = await token(app, {
      grant_type: 'refresh_token',
      client_id: 'web',
      refresh_token: session.body.refresh_token,
    });
    expect({ status: refreshed.status, error: refreshed.body.error }).toEqual({ status: 400, error: 'invalid_grant' });
    expect((await login('idem-1', DJANGO)).status).toBe(200);
  });

  it('reads CSV (quoted cells, a cell spanning lines, space-separated lists) and exports what it imports', async () => {
    const csv = [
      'username,email,email_verified,password_hash,roles,scopes,metadata,disabled',
      `csv-1,csv1@example.com,true,${LEGACY_USERS[0].hash},user admin,profile read,"{""org_id"": ""acme"",`,
      ` ""plan"": ""pro, yearly""}",false`,
      `"csv,two",,,"${LEGACY_USERS[4].hash}",,,,`,
      `csv-3,,maybe,${LEGACY_USERS[0].hash},,,,`,
      `csv-4,,,${LEGACY_USERS[0].hash}`,
    ].join('\r\n');
    const { totals, failures } = await run(Readable.from(csv), 'csv');
    expect(failures).toEqual([
      { line: 5, error: 'email_verified must be true or false.' },
      { line: 6, error: '4 cells, but the header names 8 columns.' },
    ]);
    expect(totals).toEqual({ records: 4, created: 2, updated: 0, skipped: 0, failed: 2 });
    const one = await stored('csv-1');
    expect(one).toEqual(
      expect.objectContaining({
        email: 'csv1@example.com',
        emailVerified: true,
        roles: ['user', 'admin'],
        scopes: ['profile', 'read'],
        metadata: { org_id: 'acme', plan: 'pro, yearly' },
      }),
    );
    expect((await login('csv,two', PASSLIB)).status).toBe(200);

    // Round trip: the export of a user imports (as an update) to the same record.
    for (const format of ['csv', 'jsonl'] as const) {
      const text = (format === 'csv' ? csvHeader(true) : '') + formatRecord(exportRecord(one, true), format);
      expect((await run(Readable.from(text), format, 'update')).totals).toEqual({
        records: 1,
        created: 0,
        updated: 1,
        skipped: 0,
        failed: 0,
      });
      const again = await stored('csv-1');
      expect({ ...again, updatedAt: one.updatedAt }).toEqual(one);
    }
    expect(formatRecord(exportRecord(one, false), 'jsonl')).not.toContain('password_hash');
  });

  it('refuses a CSV whose header names an unknown column, before importing anything', async () => {
    await expect(run(Readable.from('username,password\nx,y\n'), 'csv')).rejects.toThrow(
      /line 1: the CSV header must name distinct columns .*\(unknown: "password"\)/,
    );
  });

  describe('POST /admin/users/import', () => {
    let adminToken: string;
    beforeAll(async () => {
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
      await stack.services.users.create({
        username: 'root',
        password: 'the root of all administration',
        scopes: ['authd:admin'],
      });
      const res = await token(app, {
        grant_type: 'password',
        client_id: 'admin-cli',
        username: 'root',
        password: 'the root of all administration',
      });
      adminToken = res.body.access_token;
    });
    const post = (body: unknown, bearer = adminToken) =>
      request(app)
        .post('/admin/users/import')
        .set('Authorization', `Bearer ${bearer}`)
        .send(body as object);

    it('imports a batch and answers the counts and each refused row', async () => {
      const users = [
        ...Array.from({ length: 200 }, (_, i) => ({
          username: `api-${i}`,
          password_hash: LEGACY_USERS[0].hash,
          metadata: { n: i, pad: 'p'.repeat(40) },
        })),
        { username: 'api-bad', password_hash: '$1$md5crypt$xxxxxxxxxxxxxxxxxxxxxx' },
      ];
      expect(JSON.stringify({ users }).length).toBeGreaterThan(16 * 1024); // beyond the other routes' body limit
      const res = await post({ users });
      expect({ status: res.status, body: res.body }).toEqual({
        status: 200,
        body: {
          created: 200,
          updated: 0,
          skipped: 0,
          failed: [{ row: 201, error: expect.stringMatching(/^password_hash: unknown password hash format/) }],
        },
      });
      const again = await post({
        users: users.slice(0, 2).map((u) => ({ ...u, roles: ['imported'] })),
        on_conflict: 'update',
      });
      expect(again.body).toEqual({ created: 0, updated: 2, skipped: 0, failed: [] });
      expect((await stored('api-1')).roles).toEqual(['imported']);
      expect((await login('api-7', PASSLIB)).status).toBe(200);
      const [event] = await stack.services.audit.query({ types: ['users_imported'], limit: 1 });
      expect(event).toEqual(
        expect.objectContaining({
          type: 'users_imported',
          details: expect.objectContaining({ via: 'admin_api', policy: 'update', updated: 2 }),
        }),
      );
    });

    it('refuses a malformed batch with invalid_request, and any caller without the admin scope before reading the body', async () => {
      expect((await post({ users: [] })).body).toEqual({
        error: 'invalid_request',
        code: 'invalid_request',
        error_description: 'users: Too small: expected array to have >=1 items',
      });
      expect((await post({ users: [{ username: 'x' }], on_conflict: 'replace' })).status).toBe(400);
      expect((await post({ users: Array.from({ length: 1001 }, () => ({ username: 'x' })) })).status).toBe(400);
      const alice = await login('alice@example.com', 'correct horse battery staple');
      const res = await post(
        { users: [{ username: 'sneaky', password_hash: LEGACY_USERS[0].hash }] },
        alice.body.access_token,
      );
      expect(res.status).toBe(401);
      expect(await domainError(stack.services.users.requireUser('sneaky'))).toEqual({
        kind: 'not_found',
        message: 'No user named "sneaky".',
      });
    });
  });
});
