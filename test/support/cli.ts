import crypto from 'node:crypto';
import fs from 'node:fs';
import { runCli } from '../../src/cli/main';
import { createScratchDatabase, tempDir } from './backends';

/** Running `authd` in the test's own process, on each database the CLI can use. */

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the CLI in this process, as `authd <args>`, capturing what it writes. */
export async function cli(...args: string[]): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  const capture = (append: (s: string) => void) => ((chunk: string | Uint8Array, ...rest: unknown[]) => {
    append(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
    const callback = rest.find((r) => typeof r === 'function') as (() => void) | undefined;
    callback?.();
    return true;
  }) as typeof process.stdout.write;
  const out = jest.spyOn(process.stdout, 'write').mockImplementation(capture((s) => { stdout += s; }));
  const err = jest.spyOn(process.stderr, 'write').mockImplementation(capture((s) => { stderr += s; }));
  try {
    const code = await runCli(['node', 'authd', ...args]);
    return { code, stdout, stderr };
  } finally {
    out.mockRestore();
    err.mockRestore();
  }
}

export function json<T = unknown>(result: CliResult): T {
  if (result.code !== 0) throw new Error(`CLI failed (${result.code}): ${result.stderr}`);
  return JSON.parse(result.stdout) as T;
}

export interface Variant {
  name: string;
  database: 'embedded' | 'postgres';
  /** Environment for this variant, and a cleanup. */
  setUp(): Promise<{ env: Record<string, string | undefined>; dataDir?: string; tearDown(): Promise<void> }>;
}

const { DATABASE_URL, REDIS_URL } = process.env;

export const variants: Variant[] = [
  {
    name: 'the embedded database',
    database: 'embedded',
    async setUp() {
      const dataDir = tempDir('authd-cli-data-');
      return {
        env: { AUTHD_DATA_DIR: dataDir, DATABASE_URL: undefined, REDIS_URL: undefined },
        dataDir,
        async tearDown() {
          fs.rmSync(dataDir, { recursive: true, force: true });
        },
      };
    },
  },
  ...(DATABASE_URL && REDIS_URL ? [{
    name: 'Postgres + Redis',
    database: 'postgres' as const,
    async setUp() {
      const scratch = await createScratchDatabase();
      return {
        env: { DATABASE_URL: scratch.url, REDIS_URL, AUTHD_REDIS_PREFIX: `authd-test:${crypto.randomBytes(4).toString('hex')}:`, AUTHD_DATA_DIR: undefined },
        tearDown: () => scratch.drop(),
      };
    },
  }] : []),
];


/**
 * Points process.env at a fresh database of the variant (and a keys directory) for the suite,
 * and restores it afterwards; call inside describe.
 */
export function useCliEnvironment(variant: Variant, env: Record<string, string> = {}): { readonly dataDir: string | undefined } {
  const saved: Record<string, string | undefined> = {};
  const state: { dataDir: string | undefined; keysDir?: string; tearDown?: () => Promise<void> } = { dataDir: undefined };
  beforeAll(async () => {
    state.keysDir = tempDir('authd-cli-keys-');
    const prepared = await variant.setUp();
    state.tearDown = prepared.tearDown;
    state.dataDir = prepared.dataDir;
    const values = { ...prepared.env, AUTHD_KEYS_DIR: state.keysDir, AUTHD_ISSUER: 'https://authd.test', NODE_ENV: 'test', AUTHD_LOG_LEVEL: 'silent', ...env };
    for (const [name, value] of Object.entries(values)) {
      saved[name] = process.env[name];
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  });
  afterAll(async () => {
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
    await state.tearDown?.();
    if (state.keysDir) fs.rmSync(state.keysDir, { recursive: true, force: true });
  });
  return state;
}

/** Sets environment variables (undefined removes one) and returns how to put every one back. */
export function setEnv(values: Record<string, string | undefined>): () => void {
  const saved = Object.fromEntries(Object.keys(values).map((name) => [name, process.env[name]]));
  const apply = (v: Record<string, string | undefined>) => {
    for (const [name, value] of Object.entries(v)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  };
  apply(values);
  return () => apply(saved);
}
