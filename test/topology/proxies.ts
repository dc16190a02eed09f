/**
 * The two proxies of the reference topology (docs/deploy.md): PgBouncer in transaction pooling
 * mode in front of PostgreSQL, and HAProxy balancing round-robin over the authd instances.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { Client } from 'pg';
import type { Managed, PortBlock, ProcessGroup } from './processes';

export interface PgBouncer {
  port: number;
  process: Managed;
  /** databaseUrl (a database on the server PgBouncer fronts) through PgBouncer. */
  url(databaseUrl: string): string;
  /** Runs a command on PgBouncer's admin console (SHOW POOLS, SHOW CLIENTS, …). */
  show(what: string): Promise<Array<Record<string, unknown>>>;
}

/** PgBouncer drops root privileges; this user must be able to read its folder. */
const PGBOUNCER_USER = 'nobody';

/**
 * Every setting not about where to listen and how clients log in is PgBouncer's default: in
 * particular no `ignore_startup_parameters` and (1.18 has none) no `max_prepared_statements`.
 */
export async function startPgBouncer(group: ProcessGroup, ports: PortBlock, databaseUrl: string): Promise<PgBouncer> {
  const server = new URL(databaseUrl);
  const user = decodeURIComponent(server.username || 'postgres');
  const port = await ports.take();
  const dir = group.dir('pgbouncer');
  const config = path.join(dir, 'pgbouncer.ini');
  fs.writeFileSync(path.join(dir, 'users.txt'), `"${user}" ""\n`);
  fs.writeFileSync(
    config,
    [
      '[databases]',
      `* = host=${server.hostname} port=${server.port || 5432}`,
      '[pgbouncer]',
      'listen_addr = 127.0.0.1',
      `listen_port = ${port}`,
      'unix_socket_dir =',
      'auth_type = trust',
      `auth_file = ${path.join(dir, 'users.txt')}`,
      `admin_users = ${user}`,
      'pool_mode = transaction',
      '',
    ].join('\n'),
  );
  fs.chmodSync(group.root, 0o755);
  spawnSync('chown', ['-R', PGBOUNCER_USER, dir]);
  const args = globalThis.process.getuid?.() === 0 ? ['-u', PGBOUNCER_USER, config] : [config];
  const process = group.spawn('pgbouncer', 'pgbouncer', args);
  await group.listening(process, port);
  const url = (target: string) => {
    const through = new URL(target);
    through.hostname = '127.0.0.1';
    through.port = String(port);
    return through.toString();
  };
  return {
    port,
    process,
    url,
    async show(what) {
      const console = new URL(url(databaseUrl));
      console.pathname = '/pgbouncer';
      const admin = new Client({ connectionString: console.toString() });
      await admin.connect();
      try {
        // No parameters: the simple query protocol, the only one the admin console speaks.
        return (await admin.query(`SHOW ${what}`)).rows as Array<Record<string, unknown>>;
      } finally {
        await admin.end();
      }
    },
  };
}

export interface Balancer {
  port: number;
  url: string;
  process: Managed;
  /** HAProxy's view of instance i in the ready backend: UP, DOWN, or e.g. "UP 1/2" while a check is failing. */
  state(i: number): Promise<string>;
}

/** One command on HAProxy's runtime API (its stats socket). */
function runtimeCommand(socket: string, command: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const connection = net.connect(socket);
    let output = '';
    connection.on('data', (d) => {
      output += d;
    });
    connection.once('error', reject);
    connection.once('end', () => resolve(output));
    connection.end(`${command}\n`);
  });
}

/**
 * Round-robin over the instances whose /health/ready answers 200. When none does (a dependency
 * they all share is down: Redis failing over, PostgreSQL restarting) it routes to every instance
 * whose /health/live answers instead, so clients get authd's own answers (served from its
 * fallbacks, or its defined 503 with Retry-After) rather than the balancer's "no server".
 * A connection an instance refuses is retried on another one (`retries` + `option redispatch`);
 * a request already sent is never retried, so an instance dying mid-request fails that request.
 */
export async function startHaproxy(group: ProcessGroup, ports: PortBlock, backends: number[]): Promise<Balancer> {
  const port = await ports.take();
  const dir = group.dir('haproxy');
  const config = path.join(dir, 'haproxy.cfg');
  const socket = path.join(dir, 'admin.sock');
  fs.writeFileSync(
    config,
    [
      'global',
      '  maxconn 2000',
      `  stats socket ${socket} mode 600 level admin`,
      'defaults',
      '  mode http',
      '  timeout connect 1s',
      '  timeout client 30s',
      '  timeout server 15s',
      '  retries 3',
      '  option redispatch 1', // every retry goes to another instance
      // One request per server-side connection: no race between a reused idle connection and an
      // instance closing it as it shuts down.
      '  option http-server-close',
      'frontend authd',
      `  bind 127.0.0.1:${port}`,
      '  use_backend authd if { nbsrv(authd) gt 0 }',
      '  default_backend authd_live',
      ...(['ready', 'live'] as const).flatMap((check) => [
        `backend ${check === 'ready' ? 'authd' : 'authd_live'}`,
        '  balance roundrobin',
        `  option httpchk GET /health/${check}`,
        '  http-check expect status 200',
        '  default-server inter 500ms fall 2 rise 1',
        ...backends.map((p, i) => `  server authd${i} 127.0.0.1:${p} check`),
      ]),
      '',
    ].join('\n'),
  );
  const process = group.spawn('haproxy', 'haproxy', ['-db', '-f', config]);
  await group.listening(process, port);
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    process,
    async state(i) {
      const [header, ...rows] = (await runtimeCommand(socket, 'show stat')).trim().split('\n');
      const columns = header.replace(/^# /, '').split(',');
      const row = rows
        .map((r) => r.split(','))
        .find((r) => r[columns.indexOf('pxname')] === 'authd' && r[columns.indexOf('svname')] === `authd${i}`);
      return row?.[columns.indexOf('status')] ?? 'unknown';
    },
  };
}
