/**
 * The kit stands alone: `npm pack` of packages/verifier, installed into an empty project with
 * --omit=dev, brings exactly @authd/verifier and jose (nothing native, no server code), and that
 * installed copy verifies a token from a live authd. Also: the old name, authd/verifier, still
 * loads the same kit.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { backends, tempDir, type TestStack } from '../support/backends';
import { PASSWORD } from '../support/fixtures';
import { ROOT } from '../support/processes';
import { loginAt, startLiveAuthd, type LiveAuthd } from './live-authd';

jest.setTimeout(300_000);

const run = promisify(execFile);
// Under `npm test`, npm's own settings (npm_config_*) are in the environment; the service's npm must not inherit them.
const npmEnv = Object.fromEntries(
  Object.entries(process.env).filter(([name]) => !name.toLowerCase().startsWith('npm_')),
);
const KIT = path.join(ROOT, 'packages/verifier');
const AUDIENCE = 'https://orders.test';

/** Every package under node_modules (nested ones too), by name. */
function installedPackages(nodeModules: string): string[] {
  if (!fs.existsSync(nodeModules)) return [];
  return fs
    .readdirSync(nodeModules)
    .filter((name) => !name.startsWith('.'))
    .flatMap((name) => {
      const dirs = name.startsWith('@')
        ? fs.readdirSync(path.join(nodeModules, name)).map((n) => `${name}/${n}`)
        : [name];
      return dirs.flatMap((dir) => [dir, ...installedPackages(path.join(nodeModules, dir, 'node_modules'))]);
    });
}

/** Files that would mean native code: compiled addons and node-gyp builds. */
function nativeFiles(dir: string): string[] {
  return fs
    .readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && (entry.name.endsWith('.node') || entry.name === 'binding.gyp'))
    .map((entry) => path.join(entry.parentPath, entry.name));
}

let work: string;
let service: string;
let packedFiles: string[];

beforeAll(async () => {
  if (!fs.existsSync(path.join(KIT, 'dist/index.js')))
    throw new Error('packages/verifier/dist is missing: run npm run build first');
  work = tempDir('authd-kit-');
  // The kit was built by the root build; packing must not rebuild it under other running tests.
  const { stdout } = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', work], {
    cwd: KIT,
    env: npmEnv,
  });
  const [packed] = JSON.parse(stdout) as Array<{ filename: string; files: Array<{ path: string }> }>;
  packedFiles = packed.files.map((f) => f.path);
  service = path.join(work, 'service');
  fs.mkdirSync(service);
  fs.writeFileSync(
    path.join(service, 'package.json'),
    JSON.stringify({ name: 'a-service', version: '1.0.0', private: true }),
  );
  await run(
    'npm',
    ['install', path.join(work, packed.filename), '--omit=dev', '--prefer-offline', '--no-audit', '--no-fund'],
    { cwd: service, env: npmEnv, timeout: 240_000 },
  );
});

afterAll(() => {
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

describe('npm pack of @authd/verifier', () => {
  it('ships the built kit, its README and package.json, and nothing else', () => {
    expect(packedFiles).toContain('dist/index.js');
    expect(packedFiles).toContain('dist/index.d.ts');
    expect(packedFiles).toContain('README.md');
    for (const file of packedFiles) expect(file).toMatch(/^(dist\/[a-z-]+\.(js|d\.ts)|README\.md|package\.json)$/);
  });

  it('installs with --omit=dev as the kit and jose alone: no server, no native code, no ioredis', () => {
    expect(installedPackages(path.join(service, 'node_modules')).sort()).toEqual(['@authd/verifier', 'jose']);
    expect(nativeFiles(path.join(service, 'node_modules'))).toEqual([]);
    const manifest = JSON.parse(
      fs.readFileSync(path.join(service, 'node_modules/@authd/verifier/package.json'), 'utf8'),
    );
    expect(Object.keys(manifest.dependencies)).toEqual(['jose']);
    expect(manifest.peerDependenciesMeta).toEqual({ ioredis: { optional: true } });
  });

  it('is what the old name authd/verifier loads, for services that import it so', async () => {
    const { stdout } = await run(
      process.execPath,
      [
        '-e',
        `
      const legacy = require('authd/verifier'), kit = require('@authd/verifier');
      console.log(JSON.stringify({ same: legacy.createVerifier === kit.createVerifier && legacy.requireAuth === kit.requireAuth, names: Object.keys(legacy).length }));
    `,
      ],
      { cwd: ROOT },
    );
    expect(JSON.parse(stdout)).toEqual({ same: true, names: expect.any(Number) });
  });
});

describe.each(backends())('the installed kit against a live authd on $name', (backend) => {
  let stack: TestStack;
  let authd: LiveAuthd;
  let issuer: string;

  beforeAll(async () => {
    authd = await startLiveAuthd(backend);
    ({ stack, issuer } = authd);
    await stack.services.clientService.create({
      id: 'orders-web',
      name: 'Orders web',
      confidential: false,
      firstParty: true,
      grantTypes: ['password', 'refresh_token'],
      scopes: ['read'],
      defaultScopes: ['read'],
      audience: AUDIENCE,
    });
    await stack.services.users.create({
      username: 'bob@example.com',
      password: PASSWORD,
      roles: ['user'],
      scopes: ['read'],
    });
  });

  afterAll(() => authd?.close());

  it('verifies an access token authd issued and refuses its refresh token with reason "type"', async () => {
    const tokens = await loginAt(issuer, { clientId: 'orders-web', username: 'bob@example.com' });

    // Run in the service's directory: only its node_modules is reachable from there. authd runs
    // on a test clock, so the service's verifier is given the same time.
    const { stdout } = await run(
      process.execPath,
      [
        '-e',
        `
      const { createVerifier } = require('@authd/verifier');
      const [issuer, audience, access, refresh, now] = process.argv.slice(1);
      const verifier = createVerifier({ issuer, audience, now: () => Number(now) });
      (async () => {
        const auth = await verifier.verifyAccessToken(access);
        const refused = await verifier.verifyAccessToken(refresh).then(() => 'accepted', (e) => e.reason);
        console.log(JSON.stringify({ from: require.resolve('@authd/verifier'), clientId: auth.clientId, scopes: auth.scopes, refused }));
      })().catch((e) => { console.error(e); process.exit(1); });
    `,
        issuer,
        AUDIENCE,
        tokens.access,
        tokens.refresh,
        String(stack.clock.now()),
      ],
      { cwd: service, env: { PATH: process.env.PATH ?? '' } },
    );
    expect(JSON.parse(stdout)).toEqual({
      from: fs.realpathSync(path.join(service, 'node_modules/@authd/verifier/dist/index.js')),
      clientId: 'orders-web',
      scopes: ['read'],
      refused: 'type',
    });
  });
});
