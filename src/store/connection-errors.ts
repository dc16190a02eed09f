import { UnavailableError } from '../errors';

/**
 * Turns a failed connection to PostgreSQL or Redis into one line that names the cause, so an
 * operator with a wrong DATABASE_URL learns which part is wrong instead of "postgres is
 * unavailable". URLs are shown without their password.
 */

export type Dependency = 'postgres' | 'redis';

export interface ConnectionProblem {
  /** A short phrase without host names, safe for an unauthenticated readiness answer. */
  cause: string;
  /** What to do about it, or where to look; may name hosts and databases. */
  hint: string;
}

const NAMES: Record<Dependency, string> = { postgres: 'PostgreSQL', redis: 'Redis' };

/** The URL with its password replaced by "***" (and as it was when it does not parse). */
export function redactUrl(url: string): string {
  return url.replace(/^([a-z][\w+.-]*:\/\/[^:@/]*:)[^@/]*@/i, '$1***@');
}

interface ErrorLike {
  code?: string;
  message?: string;
  hostname?: string;
  address?: string;
  port?: number;
}

/** The innermost error that says something: UnavailableError and AggregateError only wrap. */
function rootCause(error: unknown): ErrorLike {
  let current: unknown = error;
  for (let depth = 0; depth < 5; depth++) {
    if (current instanceof UnavailableError && current.cause) current = current.cause;
    else if (current instanceof AggregateError && current.errors.length > 0) current = current.errors[0];
    else break;
  }
  return (current ?? {}) as ErrorLike;
}

function hostOf(url: string | undefined): string {
  try {
    return url ? new URL(url).host : '';
  } catch {
    return '';
  }
}

function databaseOf(url: string | undefined): string {
  try {
    return url ? decodeURIComponent(new URL(url).pathname.slice(1)) : '';
  } catch {
    return '';
  }
}

/** Why the connection failed, or undefined when the error is not about the connection. */
function classifyConnectionError(error: unknown, dependency: Dependency, url?: string): ConnectionProblem | undefined {
  const err = rootCause(error);
  const message = err.message ?? '';
  const name = NAMES[dependency];
  const where = err.address && err.port ? `${err.address}:${err.port}` : hostOf(url);
  switch (err.code) {
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return {
        cause: 'host not found',
        hint: `the host name "${err.hostname ?? hostOf(url)}" does not resolve (DNS): check the host in the URL`,
      };
    case 'ECONNREFUSED':
      return {
        cause: 'connection refused',
        hint: `nothing listens on ${where}: is ${name} running, and on that port?`,
      };
    case 'ETIMEDOUT':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return { cause: 'no answer', hint: `${where} does not answer (a firewall, or a wrong host?)` };
    case 'ECONNRESET':
    case 'EPIPE':
      return { cause: 'connection lost', hint: `${where} closed the connection` };
    case '28P01':
      return { cause: 'authentication failed', hint: `${message}: check the user name and password in the URL` };
    case '28000':
      if (/no encryption/.test(message)) {
        return {
          cause: 'TLS required',
          hint: 'the server accepts only encrypted connections: add sslmode=verify-full (with sslrootcert=…) to DATABASE_URL',
        };
      }
      return { cause: 'authentication failed', hint: message };
    case '3D000': {
      const database = databaseOf(url) || (/"([^"]+)"/.exec(message)?.[1] ?? '');
      const server = (() => {
        try {
          const u = new URL(url ?? '');
          return `${u.hostname ? ` -h ${u.hostname}` : ''}${u.port ? ` -p ${u.port}` : ''}${u.username ? ` -U ${decodeURIComponent(u.username)}` : ''}`;
        } catch {
          return '';
        }
      })();
      return {
        cause: `database "${database}" does not exist`,
        hint: `create it with \`createdb${server} ${database}\``,
      };
    }
    case '57P03':
      return { cause: 'starting up', hint: `${name} is starting up or shutting down; try again shortly` };
    case '53300':
      return { cause: 'too many connections', hint: `${name} has no free connection slot (max_connections)` };
    case 'SELF_SIGNED_CERT_IN_CHAIN':
    case 'DEPTH_ZERO_SELF_SIGNED_CERT':
    case 'UNABLE_TO_VERIFY_LEAF_SIGNATURE':
    case 'ERR_TLS_CERT_ALTNAME_INVALID':
    case 'CERT_HAS_EXPIRED':
      return { cause: 'TLS certificate refused', hint: `${message} (give the CA with sslrootcert=…)` };
  }
  if (/does not support SSL/i.test(message))
    return { cause: 'TLS not offered', hint: 'the URL asks for TLS (sslmode) but the server does not offer it' };
  if (/WRONGPASS|invalid username-password/i.test(message))
    return { cause: 'authentication failed', hint: 'Redis refused the user name or password in REDIS_URL' };
  if (/NOAUTH/.test(message))
    return {
      cause: 'authentication required',
      hint: 'Redis needs a password: put it in REDIS_URL (redis://:password@host:port)',
    };
  if (/timeout|timed out/i.test(message))
    return { cause: 'no answer', hint: `${where || name} did not answer in time` };
  return undefined;
}

/** One line for a terminal: "cannot connect to PostgreSQL at postgres://u:***@h/db: connection refused (…)". */
export function describeConnectionError(error: unknown, dependency: Dependency, url?: string): string | undefined {
  const problem = classifyConnectionError(error, dependency, url);
  if (!problem) return undefined;
  const at = url ? ` at ${redactUrl(url)}` : '';
  return `cannot connect to ${NAMES[dependency]}${at}: ${problem.cause}; ${problem.hint}`;
}

/** The short cause for /health/ready, falling back to the error's own class of failure. */
export function readinessCause(error: unknown, dependency: Dependency): string {
  return classifyConnectionError(error, dependency)?.cause ?? 'failing';
}
