import type { Readable, Writable } from 'node:stream';
import { parseConfig, unknownVariables, type Config } from '../config';
import { createLogger } from '../logger';
import { openDatabase, openServices, type Services } from '../services';
import type { Database } from '../store/database';
import { formatJson } from './format';

/** Where a command reads and writes: the process's own streams, or a test's. */
export interface CliIo {
  env: NodeJS.ProcessEnv;
  stdin: Readable & { isTTY?: boolean };
  stdout: Writable & { isTTY?: boolean; columns?: number };
  stderr: Writable & { isTTY?: boolean; columns?: number };
}

export const processIo = (): CliIo => ({
  env: process.env,
  stdin: process.stdin,
  stdout: process.stdout,
  stderr: process.stderr,
});

/** What every command is given: its streams, its configuration and the stores, opened per command. */
export interface CliContext {
  readonly io: CliIo;
  /** Set from --verbose before a command runs. */
  verbose: boolean;
  out(text: string): void;
  err(text: string): void;
  loadConfig(): Config;
  /** Opens the stack for one command and always closes it. */
  withServices<T>(fn: (services: Services) => Promise<T>): Promise<T>;
  withDatabase<T>(fn: (db: Database) => Promise<T>): Promise<T>;
  /** A command's answer: the record with --json, the sentence otherwise. */
  answer(opts: { json?: boolean }, record: Record<string, unknown>, sentence: string): void;
}

export interface CliContextOptions {
  /**
   * An already open database that every command uses and none closes (tests: opening an embedded
   * data directory takes seconds, and one suite runs many commands).
   */
  db?: Database;
}

export function createCliContext(io: CliIo, options: CliContextOptions = {}): CliContext {
  const context: CliContext = {
    io,
    verbose: false,
    out: (text) => void io.stdout.write(text),
    err: (text) => void io.stderr.write(text),
    loadConfig() {
      const config = parseConfig(io.env);
      for (const warning of unknownVariables(io.env)) context.err(`authd: warning: ${warning}\n`);
      return config;
    },
    async withServices(fn) {
      const config = context.loadConfig();
      // Quiet unless --verbose; logs go to stderr: stdout carries only the answer (--json stays parseable).
      const services = await openServices(config, {
        logger: createLogger(context.verbose ? config.logLevel : 'silent', 2),
        ...(options.db && { db: options.db }),
      });
      try {
        return await fn(services);
      } finally {
        await services.close();
      }
    },
    async withDatabase(fn) {
      const config = context.loadConfig();
      if (options.db) return fn(options.db);
      const db = await openDatabase(config);
      try {
        return await fn(db);
      } finally {
        await db.close();
      }
    },
    answer(opts, record, sentence) {
      context.out(opts.json ? formatJson(record) : `${sentence}\n`);
    },
  };
  return context;
}
