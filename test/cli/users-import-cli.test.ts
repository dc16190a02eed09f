import fs from 'node:fs';
import path from 'node:path';
import { parseConfig } from '../../src/config';
import { openServices } from '../../src/services';
import { readUserFile } from '../../src/users/user-file-format';
import { importRecords } from '../../src/users/user-import';
import { backends, silentLogger, tempDir } from '../support/backends';
import { useCli } from '../support/cli';
import { seedDataDir } from '../support/templates';
import { scaled } from '../support/timing';

/** `authd users import` and `authd users export`, run as commands on each database. */
jest.setTimeout(scaled(180_000));

const BCRYPT = '$2b$05$luqDlnXG8e9dmaIa5mXTQO8dRsQwMtr7uNaFE/Ubv1xGa916Pcauq'; // passlib, "pässwörd from passlib"
const PBKDF2 = '$pbkdf2-sha256$29000$ZgzBOEdo7b33HkMopTSGMA$iG.RTxBQ9lcHVlSkStP/SW5zNi7EswM9MOcBpt6JKuU'; // passlib, the same password

describe.each(backends())('users import / export CLI on $name', (backend) => {
  const suite = useCli(backend);
  const cli = suite.run;
  let dir: string;
  beforeAll(() => {
    dir = tempDir('authd-import-');
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  const file = (name: string, text: string) => {
    const at = path.join(dir, name);
    fs.writeFileSync(at, text);
    return at;
  };

  it('imports a JSON Lines file, lists refused lines on stderr, exits 1 when any was refused, and skips on a second run', async () => {
    const users = file(
      'users.jsonl',
      [
        JSON.stringify({
          username: 'ann',
          email: 'ann@example.com',
          password_hash: BCRYPT,
          roles: ['user'],
          metadata: { org_id: 'acme' },
        }),
        JSON.stringify({ username: 'ben', password_hash: PBKDF2, scopes: ['profile'] }),
        JSON.stringify({ username: 'cid', password_hash: '$1$saltsalt$qjXMvbEw8oaL.CzflDugX/' }),
      ].join('\n'),
    );
    const first = await cli('users', 'import', users);
    expect(first).toEqual({
      code: 1,
      stdout: expect.stringMatching(/^imported 3 records: 2 created, 0 updated, 0 skipped, 1 failed in \d+\.\d s\n$/),
      stderr: expect.stringMatching(
        /^line 3: password_hash: unknown password hash format .*\nauthd: 1 record\(s\) were refused \(listed above\); the others were imported\. .*\n$/,
      ),
    });
    const again = await cli('users', 'import', users, '--json');
    expect(again.code).toBe(1);
    expect(JSON.parse(again.stdout)).toEqual({
      records: 3,
      created: 0,
      updated: 0,
      skipped: 2,
      failed: 1,
      seconds: expect.any(Number),
    });
  });

  it('updates with --on-conflict update, from CSV, and refuses an unknown policy or format with exit 2', async () => {
    const csv = file('update.csv', `username,roles,metadata\nann,user admin,"{""org_id"": ""globex""}"\n`);
    const res = await cli('users', 'import', csv, '--on-conflict', 'update', '--json');
    expect({ code: res.code, summary: JSON.parse(res.stdout) }).toEqual({
      code: 0,
      summary: expect.objectContaining({ records: 1, updated: 1, failed: 0 }),
    });
    expect((await cli('users', 'import', csv, '--on-conflict', 'replace')).code).toBe(2);
    const missing = await cli('users', 'import', path.join(dir, 'nowhere.jsonl'));
    expect(missing).toEqual({
      code: 1,
      stdout: '',
      stderr: `authd: ENOENT: no such file or directory, open '${path.join(dir, 'nowhere.jsonl')}'\n`,
    });
    const unknownFormat = await cli('users', 'import', file('users.txt', ''));
    expect({ code: unknownFormat.code, stderr: unknownFormat.stderr }).toEqual({
      code: 2,
      stderr: expect.stringContaining('pass --format jsonl or --format csv'),
    });
  });

  it('sets an email (unique, unverified unless --verified) and metadata; refuses bad ones with exit 1', async () => {
    expect(await cli('users', 'set-email', 'ben', 'Ben@Example.com')).toEqual({
      code: 0,
      stdout: 'ben: email Ben@Example.com (unverified)\n',
      stderr: '',
    });
    expect(await cli('users', 'set-email', 'ben', 'none')).toEqual({
      code: 0,
      stdout: 'ben: email (none)\n',
      stderr: '',
    });
    expect(await cli('users', 'set-email', 'ben', 'ANN@example.com')).toEqual({
      code: 1,
      stdout: '',
      stderr: 'authd: That email address belongs to another user.\n',
    });
    expect(await cli('users', 'set-metadata', 'ben', '{"org_id":"initech"}')).toEqual({
      code: 0,
      stdout: 'ben: metadata {"org_id":"initech"}\n',
      stderr: '',
    });
    expect(await cli('users', 'set-metadata', 'ben', '[1]')).toEqual({
      code: 1,
      stdout: '',
      stderr: 'authd: Metadata must be a JSON object.\n',
    });
    expect(await cli('users', 'set-metadata', 'ben', '{}')).toEqual({
      code: 0,
      stdout: 'ben: metadata {}\n',
      stderr: '',
    });
    const client = await cli(
      'clients',
      'create',
      '--name',
      'Orders',
      '--public',
      '--first-party',
      '--grant',
      'password',
      '--scope',
      'profile,email',
      '--audience',
      'https://orders.example.test',
      '--user-claim',
      'email,email_verified',
      '--metadata-claim',
      'org_id',
      '--json',
    );
    expect(client.code).toBe(0);
    const refused = await cli(
      'clients',
      'create',
      '--name',
      'Bad',
      '--public',
      '--first-party',
      '--grant',
      'password',
      '--audience',
      'https://orders.example.test',
      '--metadata-claim',
      'sub',
    );
    expect(refused).toEqual({
      code: 1,
      stdout: '',
      stderr: 'authd: Invalid client: reserved claim names cannot come from metadata: sub.\n',
    });
  });

  it('exports every user in the same format, the hashes only with --include-password-hashes, and the export imports elsewhere', async () => {
    const plain = await cli('users', 'export');
    expect(plain.code).toBe(0);
    const records = plain.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(records).toEqual([
      {
        id: expect.any(String),
        username: 'ann',
        email: 'ann@example.com',
        email_verified: false,
        roles: ['user', 'admin'],
        scopes: [],
        metadata: { org_id: 'globex' },
        disabled: false,
      },
      {
        id: expect.any(String),
        username: 'ben',
        email: null,
        email_verified: false,
        roles: [],
        scopes: ['profile'],
        metadata: {},
        disabled: false,
      },
    ]);
    expect(plain.stdout).not.toContain('$2b$');

    const out = path.join(dir, 'export.csv');
    const withHashes = await cli('users', 'export', '--include-password-hashes', '--output', out);
    expect({ code: withHashes.code, stderr: withHashes.stderr }).toEqual({
      code: 0,
      stderr: 'exported 2 users, password hashes included\n',
    });
    expect(fs.statSync(out).mode & 0o777).toBe(0o600);
    const lines = fs.readFileSync(out, 'utf8').trim().split('\n');
    expect(lines[0]).toBe('id,username,email,email_verified,password_hash,roles,scopes,metadata,disabled');
    expect(lines[1]).toBe(
      `${records[0].id},ann,ann@example.com,false,${BCRYPT},user admin,,"{""org_id"":""globex""}",false`,
    );

    // Into a fresh embedded database: the same ids, and the old password logs in.
    const other = tempDir('authd-import-other-');
    seedDataDir(other); // an empty cluster, as after initdb (the import is the subject here)
    const config = parseConfig({
      ...suite.env,
      DATABASE_URL: '',
      REDIS_URL: '',
      AUTHD_DATA_DIR: other,
      AUTHD_KEYS_DIR: path.join(other, 'keys'),
    });
    const services = await openServices(
      { ...config, databaseUrl: undefined, redisUrl: undefined },
      { logger: silentLogger },
    );
    try {
      const totals = await importRecords(readUserFile(fs.createReadStream(out), 'csv'), services.userImporter, {
        policy: 'skip',
      });
      expect(totals).toEqual({ records: 2, created: 2, updated: 0, skipped: 0, failed: 0 });
      expect((await services.users.requireUser('ann')).id).toBe(records[0].id);
      await expect(services.users.verifyLogin('ben', 'pässwörd from passlib')).resolves.toEqual(
        expect.objectContaining({ ok: true }),
      );
    } finally {
      await services.close();
      fs.rmSync(other, { recursive: true, force: true });
    }
  });
});
