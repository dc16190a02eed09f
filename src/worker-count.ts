/**
 * What AUTHD_WORKERS=auto means on a machine with `cores` cores.
 *
 * A worker's JavaScript is only part of what a request costs: RS256 signing and Argon2 run on
 * libuv's pool (every core already, from one worker), and a local PostgreSQL and Redis need cores
 * of their own. Measured on 2 cores with PostgreSQL and Redis local (bench/README.md, "Levers
 * (round 2)"): on a quiet machine two workers were slower than one on six scenarios of seven
 * (0.23-0.92x, discovery 1.00x; results/round2-quiet-before.md), and in two loaded runs they
 * cost 0.85-2.1x the CPU per request, more in nine scenarios of twelve
 * (results/lever-workers-auto.md): the second worker only took the core the pool and PostgreSQL
 * were using. So on two cores or fewer `auto` is one worker.
 * With more cores, one is left to a PostgreSQL on the same machine, and with the database
 * elsewhere every core gets a worker (not measured: this machine has two).
 */
export function autoWorkerCount(cores: number, databaseUrl: string | undefined): number {
  // The embedded database belongs to one process.
  if (cores <= 2 || databaseUrl === undefined) return 1;
  return databaseIsLocal(databaseUrl) ? cores - 1 : cores;
}

/** A database on this machine: a loopback host, or a Unix socket (an absolute host path, or none at all). */
export function databaseIsLocal(databaseUrl: string): boolean {
  let url: URL;
  try {
    url = new URL(databaseUrl);
  } catch {
    return false;
  }
  const host = decodeURIComponent(url.hostname).replace(/^\[|\]$/g, '');
  const socketHost = url.searchParams.get('host');
  if (host === '') return socketHost === null || socketHost.startsWith('/');
  return host === 'localhost' || host === '::1' || /^127\./.test(host) || host.startsWith('/');
}
