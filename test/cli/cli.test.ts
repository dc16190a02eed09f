import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { parseConfig } from '../../src/config';
import { openServices } from '../../src/services';
import { readMigrations } from '../../src/store/migrate';
import { backends, FAST_ARGON2, silentLogger, tempDir } from '../support/backends';
import { dataDirEnv, runCli, useCli } from '../support/cli';
import { ROOT } from '../support/processes';
import { seedDataDir } from '../support/templates';
import { scaled } from '../support/timing';

jest.setTimeout(scaled(120_000));

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const KID = /^[A-Za-z0-9_-]{43}$/;

// The commands in this process, one after another on one embedded database (the default issuer).
describe('authd CLI (in-process, embedded database)', () => {
  const suite = useCli(backends()[0], { AUTHD_ISSUER: undefined, AUTHD_LOG_LEVEL: 'warn' });
  const run = suite.run;
  let keysDir: string;
  beforeAll(() => {
    keysDir = suite.env.AUTHD_KEYS_DIR!;
  });

  /** Runs a command that must succeed with --json, and parses its output. */
  async function json<T = unknown>(...args: string[]): Promise<T> {
    const result = await run(...args, '--json');
    expect({ code: result.code, stderr: result.stderr }).toEqual({ code: 0, stderr: '' });
    return JSON.parse(result.stdout) as T;
  }

  it('prints help and exits 0 with --help', async () => {
    const result = await run('--help');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^Usage: authd \[options\] \[command\]/);
    for (const command of ['serve', 'migrate', 'users', 'clients', 'keys', 'audit'])
      expect(result.stdout).toMatch(new RegExp(`^  ${command}\\b`, 'm'));
    expect(result.stderr).toBe('');
  });

  it('prints the help of a subcommand and exits 0', async () => {
    const result = await run('users', 'create', '--help');
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('--generate-password');
  });

  it('exits 2 on an unknown command', async () => {
    const result = await run('frobnicate');
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("unknown command 'frobnicate'");
    expect(result.stdout).toBe('');
  });

  it('exits 2 on an unknown option', async () => {
    const result = await run('users', 'list', '--colour');
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("unknown option '--colour'");
  });

  it('migrates a new database and exits 0; a second run has nothing to do', async () => {
    const versions = (await readMigrations()).map((m) => m.version);
    expect(await run('migrate')).toEqual({ code: 0, stdout: `applied: ${versions.join(', ')}\n`, stderr: '' });
    expect(await run('migrate')).toEqual({ code: 0, stdout: 'database is up to date\n', stderr: '' });
  });

  let bob: { id: string; password: string };

  it('creates a user with a generated password, printed once', async () => {
    const user = await json<Record<string, unknown>>(
      'users',
      'create',
      'bob',
      '--generate-password',
      '--role',
      'admin',
      '--scope',
      'read',
    );
    expect(user).toEqual({
      id: expect.stringMatching(UUID),
      username: 'bob',
      roles: ['admin'],
      scopes: ['read'],
      password: expect.stringMatching(/^[A-Za-z0-9_-]{20}$/),
    });
    bob = { id: user.id as string, password: user.password as string };
  });

  it.each(['bob', 'BOB', '  Bob '])('refuses to create %j again with exit 1 and a clear message', async (name) => {
    expect(await run('users', 'create', name, '--generate-password')).toEqual({
      code: 1,
      stdout: '',
      stderr: 'authd: That username is taken.\n',
    });
  });

  it('refuses a bad role name with exit 1', async () => {
    const result = await run('users', 'create', 'carol', '--generate-password', '--role', 'a/b');
    expect(result).toEqual({ code: 1, stdout: '', stderr: 'authd: Invalid role name: "a/b".\n' });
  });

  it('refuses to create a user without a password source when there is no terminal', async () => {
    const result = await run('users', 'create', 'dave'); // its standard input is not a terminal
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('--password-stdin or --generate-password');
  });

  it('replaces the roles of a user', async () => {
    expect(await run('users', 'set-roles', 'bob', 'admin,auditor', 'ops')).toEqual({
      code: 0,
      stdout: 'bob: roles admin auditor ops\n',
      stderr: '',
    });
    expect(await run('users', 'set-roles', 'nobody', 'x')).toEqual({
      code: 1,
      stdout: '',
      stderr: 'authd: No user named "nobody".\n',
    });
  });

  it('disables and enables a user', async () => {
    expect(await run('users', 'disable', 'bob')).toEqual({ code: 0, stdout: 'bob: disabled\n', stderr: '' });
    expect((await json<Array<{ disabled: boolean }>>('users', 'list')).map((u) => u.disabled)).toEqual([true]);
    expect(await run('users', 'enable', 'bob')).toEqual({ code: 0, stdout: 'bob: enabled\n', stderr: '' });
    expect((await json<Array<{ disabled: boolean }>>('users', 'list')).map((u) => u.disabled)).toEqual([false]);
  });

  it('lists users without their password or its hash', async () => {
    const result = await run('users', 'list', '--json');
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual([
      {
        id: bob.id,
        username: 'bob',
        roles: ['admin', 'auditor', 'ops'],
        scopes: ['read'],
        disabled: false,
        created: expect.stringMatching(ISO),
      },
    ]);
    expect(result.stdout).not.toContain('$argon2');
    expect(result.stdout).not.toContain(bob.password);
    expect(result.stdout).not.toMatch(/hash|password/i);
  });

  let machineSecret: string;

  it('creates a confidential client and prints its secret once', async () => {
    const client = await json<Record<string, unknown>>(
      'clients',
      'create',
      '--name',
      'x',
      '--grant',
      'client_credentials',
      '--scope',
      'a',
      '--audience',
      'https://api.example.test',
    );
    expect(client).toEqual({
      client_id: expect.stringMatching(/^c_[A-Za-z0-9_-]{16}$/),
      name: 'x',
      type: 'confidential',
      first_party: false,
      introspection: false,
      grant_types: ['client_credentials'],
      scopes: ['a'],
      default_scopes: [],
      audience: 'https://api.example.test',
      client_secret: expect.stringMatching(/^[A-Za-z0-9_-]{43,}$/),
    });
    machineSecret = client.client_secret as string;
  });

  it('refuses a public client with the password grant unless it is first-party (exit 1)', async () => {
    const refused = await run('clients', 'create', '--name', 'y', '--public', '--grant', 'password');
    expect(refused.code).toBe(1);
    expect(refused.stdout).toBe('');
    expect(refused.stderr).toMatch(
      /^authd: Invalid client: .*the password grant is only for first-party clients \(--first-party\)/,
    );

    const accepted = await json<Record<string, unknown>>(
      'clients',
      'create',
      '--name',
      'y',
      '--id',
      'web',
      '--public',
      '--first-party',
      '--grant',
      'password,refresh_token',
      '--audience',
      'https://api.example.test',
    );
    expect(accepted).toEqual({
      client_id: 'web',
      name: 'y',
      type: 'public',
      first_party: true,
      introspection: false,
      grant_types: ['password', 'refresh_token'],
      scopes: [],
      default_scopes: [],
      audience: 'https://api.example.test',
    });
  });

  it('refuses a bad duration option as a usage error (exit 2)', async () => {
    const result = await run(
      'clients',
      'create',
      '--name',
      'z',
      '--grant',
      'client_credentials',
      '--access-token-ttl',
      'soon',
    );
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain('not a duration: "soon" (use 900, 15m, 12h or 14d)');
  });

  it('lists clients without a secret', async () => {
    const result = await run('clients', 'list', '--json');
    expect(result.code).toBe(0);
    const rows = JSON.parse(result.stdout) as Array<Record<string, unknown>>;
    expect(rows).toEqual(
      expect.arrayContaining([
        {
          client_id: expect.stringMatching(/^c_/),
          name: 'x',
          type: 'confidential',
          first_party: false,
          grants: ['client_credentials'],
          scopes: ['a'],
          audience: 'https://api.example.test',
        },
        {
          client_id: 'web',
          name: 'y',
          type: 'public',
          first_party: true,
          grants: ['password', 'refresh_token'],
          scopes: [],
          audience: 'https://api.example.test',
        },
      ]),
    );
    expect(rows).toHaveLength(2);
    expect(result.stdout).not.toContain(machineSecret);
    expect(result.stdout).not.toMatch(/secret|digest/i);
  });

  it('refuses a client without an audience, and the issuer as audience next to other scopes (exit 1)', async () => {
    const missing = await run('clients', 'create', '--name', 'n', '--grant', 'client_credentials');
    expect({ code: missing.code, stdout: missing.stdout, stderr: missing.stderr }).toEqual({
      code: 1,
      stdout: '',
      stderr:
        'authd: Invalid client: an audience is required (--audience: the identifier the API that takes its tokens checks in aud).\n',
    });
    const mixed = await run(
      'clients',
      'create',
      '--name',
      'n',
      '--grant',
      'client_credentials',
      '--scope',
      'read,authd:admin',
      '--audience',
      'http://localhost:3000',
    );
    expect(mixed.code).toBe(1);
    expect(mixed.stderr).toContain("the issuer is the audience of authd's own clients only");
    const admin = await json<Record<string, unknown>>(
      'clients',
      'create',
      '--name',
      'Admin',
      '--grant',
      'client_credentials',
      '--scope',
      'authd:admin',
      '--audience',
      'http://localhost:3000',
    );
    expect(admin).toEqual(expect.objectContaining({ audience: 'http://localhost:3000', scopes: ['authd:admin'] }));
  });

  let activeKid: string;

  it('lists one active signing key with its private key present', async () => {
    const keys = await json<Array<Record<string, unknown>>>('keys', 'list');
    expect(keys).toEqual([
      {
        kid: expect.stringMatching(KID),
        state: 'active',
        created: expect.stringMatching(ISO),
        activates: expect.stringMatching(ISO),
        retires: null,
        revoked: null,
        private_key: 'present',
      },
    ]);
    activeKid = keys[0].kid as string;
    expect(fs.statSync(path.join(keysDir, `${activeKid}.pem`)).mode & 0o777).toBe(0o600);
  });

  it('adds a standby key on rotate', async () => {
    const result = await run('keys', 'rotate');
    expect(result.code).toBe(0);
    const [, newKid, activatesAt] = /^new key (\S+) activates at (\S+)\n$/.exec(result.stdout) ?? [];
    expect(newKid).toMatch(KID);
    expect(activatesAt).toMatch(ISO);

    const keys = await json<Array<Record<string, unknown>>>('keys', 'list');
    expect(keys).toEqual([
      {
        kid: activeKid,
        state: 'active',
        created: expect.stringMatching(ISO),
        activates: expect.stringMatching(ISO),
        retires: activatesAt,
        revoked: null,
        private_key: 'present',
      },
      {
        kid: newKid,
        state: 'standby',
        created: expect.stringMatching(ISO),
        activates: activatesAt,
        retires: null,
        revoked: null,
        private_key: 'present',
      },
    ]);
  });

  it('refuses to retire the only active key (exit 1)', async () => {
    const result = await run('keys', 'retire', '--', activeKid);
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(/^authd: This is the only active key/);
    expect((await json<Array<{ kid: string; state: string }>>('keys', 'list')).map((k) => k.state)).toEqual([
      'active',
      'standby',
    ]);
  });

  it('refuses to retire an unknown key (exit 1)', async () => {
    const kid = 'B'.repeat(43);
    expect(await run('keys', 'retire', '--', kid)).toEqual({
      code: 1,
      stdout: '',
      stderr: `authd: No signing key with kid ${kid}.\n`,
    });
  });

  const states = async () =>
    Object.fromEntries(
      (await json<Array<{ kid: string; state: string }>>('keys', 'list')).map((k) => [k.kid, k.state]),
    );

  it('revokes a key with keys revoke; the only active key and an unknown kid are refused (exit 1)', async () => {
    const before = await states();
    const standby = Object.keys(before).find((kid) => before[kid] === 'standby')!;
    expect(await run('keys', 'revoke', activeKid)).toEqual({
      code: 1,
      stdout: '',
      stderr:
        'authd: This is the only active key: run "authd keys rotate --immediate --revoke-old" to replace and revoke it in one step.\n',
    });
    expect(await run('keys', 'revoke', 'C'.repeat(43))).toEqual({
      code: 1,
      stdout: '',
      stderr: `authd: No signing key with kid ${'C'.repeat(43)}.\n`,
    });
    expect(await run('keys', 'revoke', standby)).toEqual({
      code: 0,
      stdout: `key ${standby} revoked; 0 live refresh token(s) it signed move to the current key at their next refresh\n`,
      stderr: '',
    });
    expect(await states()).toEqual({ [activeKid]: 'active', [standby]: 'revoked' });
    expect(await run('keys', 'revoke', standby)).toEqual({
      code: 1,
      stdout: '',
      stderr: `authd: Key ${standby} is already revoked.\n`,
    });
  });

  it('keys rotate --immediate --revoke-old replaces and revokes in one step; --revoke-old alone is refused', async () => {
    expect(await run('keys', 'rotate', '--revoke-old')).toEqual({
      code: 1,
      stdout: '',
      stderr: 'authd: Revoking the old keys needs an immediate rotation: nothing else could sign.\n',
    });
    const result = await run('keys', 'rotate', '--immediate', '--revoke-old');
    const [, newKid] = /^new key (\S+) is active now\nkey (\S+) revoked\n$/.exec(result.stdout) ?? [];
    expect({ code: result.code, stderr: result.stderr, revoked: result.stdout.split('\n')[1] }).toEqual({
      code: 0,
      stderr: '',
      revoked: `key ${activeKid} revoked`,
    });
    expect((await states())[newKid]).toBe('active');
    expect((await states())[activeKid]).toBe('revoked');
    activeKid = newKid;
  });

  it('keys retire --force of a key already retired says so and names keys revoke (exit 1)', async () => {
    expect((await run('keys', 'rotate', '--immediate')).code).toBe(0);
    expect(await run('keys', 'retire', activeKid, '--force')).toEqual({
      code: 1,
      stdout: '',
      stderr: `authd: Key ${activeKid} is already retired; it still verifies the tokens it signed until they expire. If it leaked, run "authd keys revoke ${activeKid}".\n`,
    });
  });

  it('exits 2 and names the variable on a bad environment variable', async () => {
    const result = await suite.runWith({ env: { AUTHD_ACCESS_TOKEN_TTL: 'nope' } }, 'users', 'list');
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(
      /^authd: configuration error\n {2}AUTHD_ACCESS_TOKEN_TTL: expected a duration .*"nope"/,
    );
  });

  it('names every bad variable at once', async () => {
    const result = await suite.runWith({ env: { AUTHD_ACCESS_TOKEN_TTL: 'nope', PORT: 'abc' } }, 'migrate');
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('AUTHD_ACCESS_TOKEN_TTL:');
    expect(result.stderr).toContain('PORT:');
  });
});

// What the suite above shares, each command here opens and closes itself, as a real run does.
describe('authd CLI on an embedded data directory', () => {
  let root: string;
  let env: ReturnType<typeof dataDirEnv>;
  const lockFile = () => path.join(env.AUTHD_DATA_DIR!, 'authd.lock');
  beforeAll(() => {
    root = tempDir('authd-cli-dir-');
    env = dataDirEnv(root);
  });
  afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

  it('keeps what a command did for the next; each command releases the directory, also when it fails', async () => {
    expect((await runCli(['users', 'create', 'ivy', '--generate-password'], { env })).code).toBe(0);
    expect(fs.existsSync(lockFile())).toBe(false);
    expect(await runCli(['users', 'create', 'ivy', '--generate-password'], { env })).toEqual({
      code: 1,
      stdout: '',
      stderr: 'authd: That username is taken.\n',
    });
    expect(fs.existsSync(lockFile())).toBe(false);
    expect((await runCli(['users', 'list'], { env })).stdout).toMatch(/^id +username/);
  });

  it('is owned by the process while its stack is open (a second process is refused: start.test.ts)', async () => {
    const services = await openServices(parseConfig(env), { logger: silentLogger });
    try {
      expect(fs.readFileSync(lockFile(), 'utf8')).toBe(String(process.pid));
      expect((await services.users.requireUser('ivy')).username).toBe('ivy');
    } finally {
      await services.close();
    }
    expect(fs.existsSync(lockFile())).toBe(false);
  });
});

// The in-process tests cannot see what the logger writes straight to file descriptor 1; a real
// process shows whether "--json" output can be parsed by a script.
describe('authd CLI (child process)', () => {
  const main = path.join(ROOT, 'dist/src/cli/main.js');
  let root: string;

  beforeAll(() => {
    root = tempDir('authd-cli-proc-');
    seedDataDir(path.join(root, 'data'));
  });
  afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

  const cli = (...args: string[]) =>
    spawnSync(process.execPath, [main, ...args], {
      encoding: 'utf8',
      timeout: scaled(60_000),
      env: {
        PATH: process.env.PATH ?? '',
        NODE_ENV: 'test',
        AUTHD_DATA_DIR: path.join(root, 'data'),
        AUTHD_KEYS_DIR: path.join(root, 'keys'),
        ...FAST_ARGON2,
      },
    });

  it('writes nothing but the JSON document to stdout with --json', () => {
    expect(fs.existsSync(main)).toBe(true); // built by "npm test"
    const created = cli('users', 'create', 'erin', '--generate-password', '--json');
    expect(created.status).toBe(0);
    expect(() => JSON.parse(created.stdout)).not.toThrow();
    expect(JSON.parse(created.stdout)).toEqual({
      id: expect.stringMatching(UUID),
      username: 'erin',
      roles: [],
      scopes: [],
      password: expect.any(String),
    });

    const client = cli(
      'clients',
      'create',
      '--name',
      'm',
      '--grant',
      'client_credentials',
      '--audience',
      'https://api.example.test',
      '--json',
    );
    expect(client.status).toBe(0);
    expect(() => JSON.parse(client.stdout)).not.toThrow();
    expect(JSON.parse(client.stdout)).toEqual({
      client_id: expect.stringMatching(/^c_[A-Za-z0-9_-]{16}$/),
      name: 'm',
      type: 'confidential',
      first_party: false,
      introspection: false,
      grant_types: ['client_credentials'],
      scopes: [],
      default_scopes: [],
      audience: 'https://api.example.test',
      client_secret: expect.stringMatching(/^[A-Za-z0-9_-]{43,}$/),
    });
  });

  it('is quiet by default: log lines only with --verbose, and only on stderr', () => {
    const quiet = cli('users', 'create', 'frank', '--generate-password', '--json');
    expect({ status: quiet.status, stderr: quiet.stderr }).toEqual({ status: 0, stderr: '' });
    const verbose = cli('users', 'create', 'grace', '--generate-password', '--json', '--verbose');
    expect(verbose.status).toBe(0);
    expect(JSON.parse(verbose.stdout)).toMatchObject({ username: 'grace' });
    const logLines = verbose.stderr
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(logLines).toContainEqual(expect.objectContaining({ service: 'authd', audit: 'user_created' }));
  });

  it('warns once per unknown AUTHD_* variable, naming the closest setting', () => {
    const result = spawnSync(process.execPath, [main, 'users', 'list', '--json'], {
      encoding: 'utf8',
      timeout: scaled(60_000),
      env: {
        PATH: process.env.PATH ?? '',
        NODE_ENV: 'test',
        AUTHD_DATA_DIR: path.join(root, 'data'),
        AUTHD_KEYS_DIR: path.join(root, 'keys'),
        AUTHD_ACCES_TOKEN_TTL: '5m',
      },
    });
    expect({ status: result.status, stderr: result.stderr }).toEqual({
      status: 0,
      stderr: 'authd: warning: AUTHD_ACCES_TOKEN_TTL: not a setting of authd (did you mean AUTHD_ACCESS_TOKEN_TTL?)\n',
    });
  });
});
