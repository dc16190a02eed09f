/**
 * The processes of a topology (redis-server, redis-sentinel, pgbouncer, haproxy, authd): each in
 * its own process group with its log in the topology's temp folder, and all of them killed when
 * the topology stops, when the test process exits, or when it is interrupted.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { tempDir } from '../support/backends';
import { portAnswers } from '../support/processes';
import { waitUntil } from '../support/suite';

/** Processes still running, across every topology of this process: pid → is a group leader. */
const running = new Map<number, boolean>();

function kill(pid: number, signal: NodeJS.Signals, group = running.get(pid) ?? false): void {
  try {
    process.kill(group ? -pid : pid, signal);
  } catch {
    // already gone
  }
}

/**
 * Each running child is also recorded as a file in the suite's leftover folder (set up by
 * test/support/global-setup.js), so test/support/global-teardown.js can kill what a force-exited or
 * killed jest worker could not.
 */
function recordForTeardown(pid: number, command: string, group: boolean): void {
  const dir = process.env.AUTHD_TEST_LEFTOVERS;
  if (dir && Number.isInteger(pid)) fs.writeFileSync(path.join(dir, String(pid)), JSON.stringify({ command, group }));
}

function forget(pid: number): void {
  running.delete(pid);
  const dir = process.env.AUTHD_TEST_LEFTOVERS;
  if (dir) fs.rmSync(path.join(dir, String(pid)), { force: true });
}

function killAll(): void {
  for (const pid of running.keys()) kill(pid, 'SIGKILL');
}

let hooked = false;
function hookExit(): void {
  if (hooked) return;
  hooked = true;
  process.on('exit', killAll);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      killAll();
      // Someone else (npm run topology) handles the signal and exits on its own.
      if (process.listenerCount(signal) > 0) return;
      process.exit(128 + (signal === 'SIGHUP' ? 1 : signal === 'SIGINT' ? 2 : 15));
    });
  }
}

export interface Managed {
  name: string;
  child: ChildProcess;
  log: string;
  exited(): boolean;
  /** Sends signal to the whole process group and waits for the leader to exit. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Commands the topology needs, each with its Debian package. */
export const TOPOLOGY_COMMANDS = {
  'redis-server': 'redis-server',
  'redis-sentinel': 'redis-sentinel',
  'redis-cli': 'redis-tools',
  pgbouncer: 'pgbouncer',
  haproxy: 'haproxy',
} as const;

export function missingCommands(): string[] {
  return Object.keys(TOPOLOGY_COMMANDS).filter(
    (command) => spawnSync('sh', ['-c', `command -v ${command}`]).status !== 0,
  );
}

/**
 * Hands out ports from [base, base + size): each test file (and `npm run topology`) has its own
 * block inside 17000-17999, so files running in parallel never collide; a port in use is skipped.
 */
export class PortBlock {
  private next: number;
  constructor(
    private readonly base: number,
    private readonly size = 100,
  ) {
    this.next = base;
  }

  async take(): Promise<number> {
    while (this.next < this.base + this.size) {
      const port = this.next++;
      if (await isFree(port)) return port;
    }
    throw new Error(`no free port left in ${this.base}-${this.base + this.size - 1}`);
  }
}

function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** A temp folder owning processes; stop() ends them all (and removes the folder unless kept). */
export class ProcessGroup {
  readonly root = tempDir('authd-topology-');
  private readonly processes: Managed[] = [];

  dir(name: string): string {
    const dir = path.join(this.root, name);
    fs.mkdirSync(dir, { recursive: true });
    return dir;
  }

  spawn(
    name: string,
    command: string,
    args: string[],
    options: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
  ): Managed {
    hookExit();
    const log = path.join(this.root, `${name}.log`);
    const out = fs.openSync(log, 'a');
    const child = spawn(command, args, {
      cwd: options.cwd ?? this.root,
      env: options.env ?? process.env,
      stdio: ['ignore', out, out],
      detached: true,
    });
    fs.closeSync(out);
    const pid = child.pid!;
    running.set(pid, true);
    recordForTeardown(pid, command, true);
    const exit = new Promise<number | null>((resolve) =>
      child.once('exit', (code) => {
        forget(pid);
        resolve(code);
      }),
    );
    child.once('error', () => forget(pid));
    const managed: Managed = {
      name,
      child,
      log,
      exited: () => child.exitCode !== null || child.signalCode !== null,
      async stop(signal = 'SIGKILL') {
        if (managed.exited()) return child.exitCode;
        kill(pid, signal, true);
        return exit;
      },
    };
    this.processes.push(managed);
    return managed;
  }

  /** Also kills a child started elsewhere (an authd from startServerProcess) on exit or interrupt. */
  adopt(child: ChildProcess): void {
    hookExit();
    const pid = child.pid!;
    running.set(pid, false);
    recordForTeardown(pid, path.basename(child.spawnfile), false);
    child.once('exit', () => forget(pid));
  }

  /** Waits for port to accept connections, failing early (with its log) if the process exits. */
  async listening(managed: Managed, port: number, timeoutMs = 20_000): Promise<void> {
    await waitUntil(
      `${managed.name} on port ${port}`,
      async () => {
        if (managed.exited())
          throw new Error(
            `${managed.name} exited with ${managed.child.exitCode ?? managed.child.signalCode}:\n${this.tail(managed)}`,
          );
        return portAnswers(port);
      },
      timeoutMs,
    );
  }

  tail(managed: Managed, lines = 30): string {
    try {
      return fs.readFileSync(managed.log, 'utf8').split('\n').slice(-lines).join('\n');
    } catch {
      return '(no log)';
    }
  }

  async stop(options: { keep?: boolean } = {}): Promise<void> {
    await Promise.all(this.processes.map((p) => p.stop('SIGKILL')));
    if (!options.keep) fs.rmSync(this.root, { recursive: true, force: true });
  }
}
