import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { createScratchDatabase, tempDir } from './support/backends';
import { freePort, ROOT } from './support/processes';
import { registerInsteadOfSuite } from './support/suite';
import { scaled } from './support/timing';

/**
 * The README's ```sh blocks, pasted in order as a reader would: one bash, every block, with the
 * server the walkthrough starts in the background. A block preceded by
 * `<!-- readme-test: skip (why) -->` is left out. The copy runs in a directory of its own (its own
 * data and keys), on a free port instead of 3000, and curl fails on an HTTP error (a ~/.curlrc),
 * so a block that no longer works fails the test.
 */

jest.setTimeout(scaled(200_000));

const SKIP = /^<!-- readme-test: skip \(.+\) -->$/;

function readmeShellBlocks(markdown: string): string[] {
  const lines = markdown.split('\n');
  const blocks: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (lines[i].trim() !== '```sh') continue;
    const end = lines.indexOf('```', i + 1);
    if (end < 0) throw new Error(`README: the \`\`\`sh block at line ${i + 1} is not closed`);
    let before = i - 1;
    while (before >= 0 && lines[before].trim() === '') before--;
    if (!SKIP.test(lines[before]?.trim() ?? '')) blocks.push(lines.slice(i + 1, end).join('\n'));
    i = end;
  }
  return blocks;
}

/** Runs the blocks in a copy of the repository's runtime files; resolves with bash's status and output. */
async function runWalkthrough(env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  const port = await freePort();
  const dir = tempDir('authd-readme-');
  for (const entry of [
    'dist',
    'node_modules',
    'package.json',
    'package-lock.json',
    'scripts',
    'migrations',
    'pages',
    'src',
    'tsconfig.json',
    'tsconfig.build.json',
  ]) {
    fs.symlinkSync(path.join(ROOT, entry), path.join(dir, entry));
  }
  fs.writeFileSync(path.join(dir, '.curlrc'), 'fail\nmax-time = 60\n');
  const blocks = readmeShellBlocks(fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8'));
  const script = [
    'set -euo pipefail',
    "trap 'kill $(jobs -p) 2>/dev/null || true' EXIT",
    ...blocks.map(
      (block, n) =>
        `echo "----- README block ${n + 1} of ${blocks.length}"\n${block.replaceAll('localhost:3000', `localhost:${port}`)}`,
    ),
  ].join('\n');
  return new Promise((resolve) => {
    const child = spawn('bash', ['-c', script], {
      cwd: dir,
      detached: true, // its own process group, so the server it starts is stopped with it
      env: {
        PATH: process.env.PATH ?? '',
        HOME: dir,
        PORT: String(port),
        AUTHD_METRICS_PORT: '0',
        AUTHD_LOG_LEVEL: 'warn',
        AUTHD_ARGON2_MEMORY_KIB: '8192',
        AUTHD_ARGON2_TIME_COST: '1',
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout!.on('data', (d) => {
      output += d;
    });
    child.stderr!.on('data', (d) => {
      output += d;
    });
    const killGroup = () => {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        /* already gone */
      }
    };
    const timer = setTimeout(killGroup, scaled(150_000));
    process.once('exit', killGroup);
    child.once('exit', (code) => {
      clearTimeout(timer);
      killGroup(); // whatever the script left behind
      const log = path.join(dir, 'authd.log');
      if (code !== 0 && fs.existsSync(log)) output += `\n----- authd.log\n${fs.readFileSync(log, 'utf8')}`;
      fs.rmSync(dir, { recursive: true, force: true });
      resolve({ code, output });
    });
  });
}

function expectWalkthroughWorked(result: { code: number | null; output: string }): void {
  if (result.code !== 0)
    throw new Error(`the README's blocks failed (exit ${result.code}):\n${result.output.slice(-6000)}`);
  expect(result.output).toContain('"token_type":"Bearer"');
  expect(result.output).toMatch(/"active":true/);
  expect(result.output).toContain('"users":[');
}

describe('the README, pasted block by block', () => {
  it('knows which blocks it runs', () => {
    const blocks = readmeShellBlocks(
      'text\n<!-- readme-test: skip (runs forever) -->\n```sh\nnpm start\n```\n\n```sh\necho one\n```\n```json\n{}\n```\n',
    );
    expect(blocks).toEqual(['echo one']);
  });

  it('runs on the embedded default', async () => {
    expectWalkthroughWorked(await runWalkthrough({}));
  });
});

describe('the README on PostgreSQL + Redis', () => {
  const { DATABASE_URL, REDIS_URL } = process.env;
  if (!DATABASE_URL || !REDIS_URL) {
    registerInsteadOfSuite('DATABASE_URL and REDIS_URL are not set', __filename);
    return;
  }
  it('runs on PostgreSQL and Redis', async () => {
    const scratch = await createScratchDatabase();
    try {
      expectWalkthroughWorked(
        await runWalkthrough({
          DATABASE_URL: scratch.url,
          REDIS_URL,
          AUTHD_REDIS_PREFIX: `authd-readme:${crypto.randomBytes(4).toString('hex')}:`,
        }),
      );
    } finally {
      await scratch.drop();
    }
  });
});
