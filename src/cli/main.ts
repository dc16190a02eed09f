#!/usr/bin/env node
import './threadpool';
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { AUDIT_EVENT_TYPES } from '../audit/audit-log';
import type { ClientSettingsInput } from '../clients/client-service';
import { ConfigError, parseConfig, parseDuration, unknownVariables, type Config } from '../config';
import { DomainError, UnavailableError } from '../errors';
import { presentClient, presentUser } from '../http/presenters';
import { createLogger } from '../logger';
import { openDatabase, openServices, type Services } from '../services';
import { describeConnectionError } from '../store/connection-errors';
import { migrate } from '../store/migrate';
import { listSigningKeys, retireSigningKey, revokeSigningKey, rotateSigningKey } from '../tokens/key-management';
import { normalizeUsername } from '../users/username';
import { printRecord, printRows } from './format';
import { serve } from './serve';
import { registerUserFileCommands } from './user-file-commands';
import { readPassword } from './password-input';

const EXIT_FAILURE = 1;
const EXIT_USAGE = 2;

function loadConfig(): Config {
  const config = parseConfig(process.env);
  for (const warning of unknownVariables(process.env)) process.stderr.write(`authd: warning: ${warning}\n`);
  return config;
}

let verbose = false;

/** Opens the stack for one command and always closes it. */
async function withServices<T>(fn: (services: Services) => Promise<T>): Promise<T> {
  const config = loadConfig();
  // Quiet unless --verbose; logs go to stderr: stdout carries only the answer (--json stays parseable).
  const services = await openServices(config, { logger: createLogger(verbose ? config.logLevel : 'silent', 2) });
  try {
    return await fn(services);
  } finally {
    await services.close();
  }
}

/** "2026-01-01T00:00:00Z" or a duration ago ("24h"). */
function parseWhen(value: string, now: number): Date {
  const ago = parseDuration(value);
  if (ago !== undefined) return new Date(now - ago * 1000);
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) throw new DomainError('invalid', `Not a time: "${value}" (use an ISO date or a duration like 24h).`);
  return date;
}

const list = (value: string, previous: string[] = []) => [...previous, ...value.split(/[\s,]+/).filter(Boolean)];
const seconds = (value: string) => {
  const parsed = parseDuration(value);
  if (parsed === undefined) throw new InvalidArgumentError(`not a duration: "${value}" (use 900, 15m, 12h or 14d)`);
  return parsed;
};

/** The settings clients create and clients update share; on update an option not given keeps its value. */
function clientSettingOptions(cmd: Command): Command {
  return cmd
    .option('--first-party', 'a client of your own, allowed the password grant').option('--no-first-party', 'not a client of your own')
    .option('--introspect', 'a resource server allowed to call the introspection endpoint').option('--no-introspect', 'not allowed to introspect')
    .option('--grant <grants>', 'allowed grant types, comma-separated or repeated', list)
    .option('--scope <scopes>', 'scopes the client may request', list)
    .option('--default-scope <scopes>', 'scopes granted when a request names none', list)
    .option('--audience <aud>', "the aud claim of its access tokens: the API that takes them (required; the issuer only for authd's own clients)")
    .option('--access-token-ttl <duration>', 'shorter access-token lifetime', seconds)
    .option('--refresh-idle-ttl <duration>', 'shorter refresh-token idle lifetime', seconds)
    .option('--refresh-absolute-ttl <duration>', 'shorter session lifetime', seconds)
    .option('--cookie-mode', 'browser app: the refresh token goes in an HttpOnly cookie (needs --allowed-origins)').option('--no-cookie-mode', 'the refresh token in the response body')
    .option('--allowed-origins <origins>', 'origins of the web app, comma-separated (cookie mode\'s CSRF defence)', list)
    .option('--redirect-uri <uris>', 'redirect URIs, comma-separated or repeated', list)
    .option('--user-claim <claims>', 'preferred_username, email, email_verified: in its access tokens when the scope asks (profile, email)', list)
    .option('--metadata-claim <keys>', 'keys of the user\'s metadata to copy into its access tokens', list)
    .option('--json', 'print JSON');
}

function clientSettingsFrom(opts: Record<string, unknown>): ClientSettingsInput {
  return {
    ...(opts.name !== undefined && { name: opts.name as string }),
    ...(opts.firstParty !== undefined && { firstParty: opts.firstParty as boolean }),
    ...(opts.introspect !== undefined && { canIntrospect: opts.introspect as boolean }),
    ...(opts.grant !== undefined && { grantTypes: opts.grant as string[] }),
    ...(opts.scope !== undefined && { scopes: opts.scope as string[] }),
    ...(opts.defaultScope !== undefined && { defaultScopes: opts.defaultScope as string[] }),
    ...(opts.audience !== undefined && { audience: opts.audience as string }),
    ...(opts.accessTokenTtl !== undefined && { accessTokenTtl: opts.accessTokenTtl as number }),
    ...(opts.refreshIdleTtl !== undefined && { refreshIdleTtl: opts.refreshIdleTtl as number }),
    ...(opts.refreshAbsoluteTtl !== undefined && { refreshAbsoluteTtl: opts.refreshAbsoluteTtl as number }),
    ...(opts.cookieMode !== undefined && { cookieMode: opts.cookieMode as boolean }),
    ...(opts.allowedOrigins !== undefined && { allowedOrigins: opts.allowedOrigins as string[] }),
    ...(opts.redirectUri !== undefined && { redirectUris: opts.redirectUri as string[] }),
    ...(opts.userClaim !== undefined && { userClaims: opts.userClaim as string[] }),
    ...(opts.metadataClaim !== undefined && { metadataClaims: opts.metadataClaim as string[] }),
  };
}

/** A command's answer: the record with --json, the sentence otherwise. */
function answer(opts: { json?: boolean }, record: Record<string, unknown>, sentence: string): void {
  if (opts.json) printRecord(record, true);
  else process.stdout.write(`${sentence}\n`);
}

export function buildProgram(): Command {
  const program = new Command('authd')
    .description('authd: an OAuth2 token issuer (password, refresh_token and client_credentials grants; RS256 JWTs; JWKS)')
    .showHelpAfterError()
    .exitOverride()
    .option('--verbose', 'print log lines (JSON, to stderr) while a command runs')
    .hook('preAction', (command) => { verbose = Boolean(command.opts().verbose); });

  program.command('serve').description('start the HTTP server (migrates the database first)').action(async () => {
    await serve(loadConfig());
  });

  program.command('migrate').description('apply pending database migrations and exit').option('--json', 'print JSON').action(async (opts) => {
    const db = await openDatabase(loadConfig());
    try {
      const applied = await migrate(db);
      answer(opts, { applied }, applied.length ? `applied: ${applied.join(', ')}` : 'database is up to date');
    } finally {
      await db.close();
    }
  });

  const users = program.command('users').description('manage users');
  const passwordOptions = (cmd: Command) => cmd
    .option('--password-stdin', 'read the password from standard input')
    .option('--generate-password', 'generate a random password and print it once');

  passwordOptions(users.command('create').argument('<username>').description('create a user (asks for a password)'))
    .option('--role <roles>', 'roles, comma-separated or repeated', list, [])
    .option('--scope <scopes>', 'scopes the user may be granted, comma-separated or repeated', list, [])
    .option('--json', 'print JSON')
    .action(async (username: string, opts) => {
      const { password, generated } = await readPassword(opts);
      const user = await withServices((s) => s.users.create({ username, password, roles: opts.role, scopes: opts.scope }));
      printRecord({ id: user.id, username: user.username, roles: user.roles, scopes: user.scopes, ...(generated && { password }) }, opts.json);
      if (generated && !opts.json) process.stderr.write('The password is shown once; it is stored only as a hash.\n');
    });

  passwordOptions(users.command('set-password').argument('<username>').description('set a new password (ends every session)'))
    .option('--json', 'print JSON')
    .action(async (username: string, opts) => {
      const { password, generated } = await readPassword(opts);
      const user = await withServices((s) => s.users.setPassword(username, password));
      answer(opts, { id: user.id, username: user.username, ...(generated && { password }) },
        generated ? `password: ${password}` : 'password changed; every session of the user was revoked');
    });

  for (const [name, disabled] of [['disable', true], ['enable', false]] as const) {
    users.command(name).argument('<username>').description(disabled ? 'disable a user (ends every session)' : 'enable a disabled user')
      .option('--json', 'print JSON')
      .action(async (username: string, opts) => {
        const user = await withServices((s) => s.users.setDisabled(username, disabled));
        answer(opts, presentUser(user), `${username}: ${disabled ? 'disabled' : 'enabled'}`);
      });
  }

  users.command('set-roles').argument('<username>').argument('[roles...]').description('replace the roles of a user')
    .option('--json', 'print JSON')
    .action(async (username: string, roles: string[], opts) => {
      const user = await withServices((s) => s.users.setRoles(username, roles.flatMap((r) => list(r))));
      answer(opts, presentUser(user), `${user.username}: roles ${user.roles.join(' ') || '(none)'}`);
    });

  users.command('set-scopes').argument('<username>').argument('[scopes...]').description('replace the scopes a user may be granted')
    .option('--json', 'print JSON')
    .action(async (username: string, scopes: string[], opts) => {
      const user = await withServices((s) => s.users.setScopes(username, scopes.flatMap((r) => list(r))));
      answer(opts, presentUser(user), `${user.username}: scopes ${user.scopes.join(' ') || '(none)'}`);
    });

  users.command('set-email').argument('<username>').argument('<email>', 'the address, or "none" to remove it')
    .option('--verified', 'mark the address verified (you checked it yourself)')
    .description('set the email address of a user (unique; a new address is unverified)')
    .action(async (username: string, email: string, opts: { verified?: boolean }) => {
      const user = await withServices((s) => s.users.setEmail(username, email === 'none' ? null : email, { ...(opts.verified && { verified: true }) }));
      process.stdout.write(`${user.username}: email ${user.email ?? '(none)'}${user.email ? (user.emailVerified ? ' (verified)' : ' (unverified)') : ''}\n`);
    });

  users.command('set-metadata').argument('<username>').argument('<json>', 'a JSON object, e.g. \'{"org_id":"acme"}\' (replaces the metadata; {} clears it)')
    .description('replace the metadata of a user (copied into tokens of clients that name its keys)')
    .action(async (username: string, json: string) => {
      let metadata: unknown;
      try {
        metadata = JSON.parse(json);
      } catch {
        throw new DomainError('invalid', 'Metadata must be a JSON object.');
      }
      const user = await withServices((s) => s.users.setMetadata(username, metadata));
      process.stdout.write(`${user.username}: metadata ${JSON.stringify(user.metadata)}\n`);
    });

  users.command('sessions').argument('<username>').description('list the sessions (refresh-token families) of a user')
    .option('--all', 'include revoked and expired sessions').option('--json', 'print JSON')
    .action(async (username: string, opts) => {
      const rows = await withServices(async (s) => {
        const user = await s.users.requireUser(username);
        return s.sessions.listForUser(user.id, new Date(s.clock.now()), Boolean(opts.all));
      });
      printRows(rows.map((r) => ({
        session: r.id, client: r.clientId, created: r.createdAt, last_used: r.lastUsedAt, expires: r.expiresAt,
        ip: r.ip, user_agent: r.userAgent, ...(opts.all && { revoked: r.revokedAt, reason: r.revokedReason }),
      })), opts.json);
    });

  users.command('revoke-sessions').argument('<username>').description('sign a user out everywhere: revoke every session and every access token issued so far')
    .option('--json', 'print JSON')
    .action(async (username: string, opts) => {
      const ids = await withServices(async (s) => {
        const user = await s.users.requireUser(username);
        const revoked = await s.revoker.revokeUser(user.id, 'revoked_by_operator');
        s.audit.record({ type: 'user_sessions_revoked', userId: user.id, details: { sessions: revoked.length } }); // as the admin API does
        return revoked;
      });
      answer(opts, { username, revoked_sessions: ids.length }, `${username}: ${ids.length} session(s) revoked; access tokens issued until now are revoked too`);
    });

  users.command('show').argument('<username>').description('show one user (never the password hash)').option('--json', 'print JSON')
    .action(async (username: string, opts) => {
      printRecord(presentUser(await withServices((s) => s.users.requireUser(username))), opts.json);
    });

  users.command('delete').argument('<username>').description('delete a user and their sessions; audit rows keep the id').option('--json', 'print JSON')
    .action(async (username: string, opts) => {
      const user = await withServices((s) => s.users.delete(username));
      answer(opts, { id: user.id, username: user.username, deleted: true }, `${user.username}: deleted; every session was revoked`);
    });

  users.command('unlock').argument('<username>').description('clear failed-login counters and lockouts of a user')
    .action(async (username: string) => {
      await withServices(async (s) => {
        const user = await s.users.requireUser(username);
        await s.throttle.unlock(normalizeUsername(username));
        s.audit.record({ type: 'user_unlocked', userId: user.id });
      });
      process.stdout.write(`${username}: unlocked\n`);
    });

  users.command('list').description('list users').option('--limit <n>', 'how many', '100').option('--offset <n>', 'skip', '0').option('--json', 'print JSON')
    .action(async (opts) => {
      const rows = await withServices((s) => s.users.list(Number(opts.limit), Number(opts.offset)));
      printRows(rows.map((u) => ({ id: u.id, username: u.username, roles: u.roles, scopes: u.scopes, disabled: u.disabledAt !== null, created: u.createdAt })), opts.json);
    });

  registerUserFileCommands(users, withServices);

  const clients = program.command('clients').description('manage OAuth clients');
  clientSettingOptions(clients.command('create').description('create a client; a confidential client\'s secret is printed once')
    .requiredOption('--name <name>', 'a human-readable name')
    .option('--id <id>', 'the client_id (default: generated)')
    .option('--public', 'a public client (no secret: SPA, mobile app, CLI)'))
    .action(async (opts) => {
      const { client, secret } = await withServices((s) => s.clientService.create({
        ...clientSettingsFrom(opts),
        id: opts.id,
        name: opts.name,
        confidential: !opts.public,
        firstParty: Boolean(opts.firstParty),
        canIntrospect: Boolean(opts.introspect),
        grantTypes: opts.grant ?? [],
      }));
      printRecord({
        client_id: client.id, name: client.name, type: client.confidential ? 'confidential' : 'public', first_party: client.firstParty,
        introspection: client.canIntrospect, grant_types: client.grantTypes, scopes: client.scopes, default_scopes: client.defaultScopes, audience: client.audience,
        ...(client.cookieMode && { cookie_mode: true, allowed_origins: client.allowedOrigins }),
        ...(secret !== undefined && { client_secret: secret }),
      }, opts.json);
      if (secret !== undefined && !opts.json) process.stderr.write('The client secret is shown once; authd stores only a keyed digest of it.\n');
    });

  clientSettingOptions(clients.command('update').argument('<client_id>').description('change a client; options not given keep their value')
    .option('--name <name>', 'a human-readable name'))
    .action(async (id: string, opts) => {
      const client = await withServices((s) => s.clientService.update(id, clientSettingsFrom(opts)));
      printRecord(presentClient(client), opts.json);
    });

  clients.command('show').argument('<client_id>').description('show one client (never its secret)').option('--json', 'print JSON')
    .action(async (id: string, opts) => {
      printRecord(presentClient(await withServices((s) => s.clientService.get(id))), opts.json);
    });

  clients.command('rotate-secret').argument('<client_id>').description('give a confidential client a new secret, printed once; the old one stops working at once')
    .option('--json', 'print JSON')
    .action(async (id: string, opts) => {
      const secret = await withServices((s) => s.clientService.rotateSecret(id));
      printRecord({ client_id: id, client_secret: secret }, opts.json);
      if (!opts.json) process.stderr.write('The client secret is shown once; authd stores only a keyed digest of it.\n');
    });

  clients.command('delete').argument('<client_id>').description('delete a client; its sessions end at once').option('--json', 'print JSON')
    .action(async (id: string, opts) => {
      await withServices((s) => s.clientService.delete(id));
      answer(opts, { client_id: id, deleted: true }, `client ${id} deleted; its sessions were revoked`);
    });

  clients.command('list').description('list clients').option('--json', 'print JSON').action(async (opts) => {
    const rows = await withServices((s) => s.clientService.list());
    printRows(rows.map((c) => ({
      client_id: c.id, name: c.name, type: c.confidential ? 'confidential' : 'public', first_party: c.firstParty,
      grants: c.grantTypes, scopes: c.scopes, audience: c.audience,
    })), opts.json);
  });

  program.command('audit').description('print the audit trail, newest first')
    .option('--user <username>', 'only events of this user')
    .option('--type <types>', `only these event types, comma-separated (${AUDIT_EVENT_TYPES.join(', ')})`, list, [])
    .option('--since <when>', 'from this time: an ISO date or a duration ago (15m, 24h, 7d)')
    .option('--until <when>', 'before this time: an ISO date or a duration ago')
    .option('--limit <n>', 'at most this many events', '100')
    .option('--json', 'print JSON')
    .action(async (opts) => {
      const rows = await withServices(async (s) => s.audit.query({
        ...(opts.user && { userId: (await s.users.requireUser(opts.user)).id }),
        types: opts.type,
        ...(opts.since && { since: parseWhen(opts.since, s.clock.now()) }),
        ...(opts.until && { until: parseWhen(opts.until, s.clock.now()) }),
        limit: Number(opts.limit),
      }));
      printRows(rows.map((r) => ({
        time: r.occurredAt, type: r.type, user: r.userId, client: r.clientId, ip: r.ip, request: r.requestId,
        details: JSON.stringify(r.details), ...(opts.json && { user_agent: r.userAgent }),
      })), opts.json);
    });

  const keys = program.command('keys').description('manage signing keys');
  keys.command('list').description('list signing keys and their states').option('--json', 'print JSON').action(async (opts) => {
    const rows = await withServices((s) => listSigningKeys(s.keyManagement));
    printRows(rows.map((k) => ({ kid: k.kid, state: k.state, created: k.createdAt, activates: k.activatesAt, retires: k.retiresAt, revoked: k.revokedAt, private_key: k.hasPrivateKey ? 'present' : 'MISSING' })), opts.json);
  });
  keys.command('rotate').description('add a standby key; it signs once every verifier has had time to fetch it')
    .option('--immediate', 'emergency: sign with the new key now and retire the others now')
    .option('--revoke-old', 'with --immediate, for a leaked key: revoke every other key too (their tokens are refused at once)')
    .option('--json', 'print JSON')
    .action(async (opts) => {
      const key = await withServices((s) => rotateSigningKey(s.keyManagement, Boolean(opts.immediate), Boolean(opts.revokeOld)));
      const revoked = key.revoked ?? [];
      answer(opts, { kid: key.kid, activates_at: key.activatesAt.toISOString(), revoked },
        [`new key ${key.kid} ${opts.immediate ? 'is active now' : `activates at ${key.activatesAt.toISOString()}`}`,
          ...revoked.map((kid) => `key ${kid} revoked`)].join('\n'));
    });
  keys.command('revoke').argument('<kid>').description('distrust a leaked key at once: it stops signing, verifying and being published, and every token it signed is refused')
    .option('--json', 'print JSON')
    .action(async (kid: string, opts) => {
      const { liveRefreshTokens } = await withServices((s) => revokeSigningKey(s.keyManagement, kid));
      answer(opts, { kid, revoked: true, live_refresh_tokens: liveRefreshTokens },
        `key ${kid} revoked; ${liveRefreshTokens} live refresh token(s) it signed move to the current key at their next refresh`);
    });
  keys.command('retire').argument('<kid>').description('stop signing with a key; it stays published until its tokens expire')
    .option('--force', 'retire even the last active key')
    .option('--json', 'print JSON')
    .action(async (kid: string, opts) => {
      await withServices((s) => retireSigningKey(s.keyManagement, kid, Boolean(opts.force)));
      answer(opts, { kid, retired: true }, `key ${kid} retired`);
    });

  return program;
}

export async function runCli(argv: string[]): Promise<number> {
  try {
    await buildProgram().parseAsync(argv);
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : EXIT_USAGE;
    if (error instanceof ConfigError) {
      process.stderr.write(`authd: configuration error\n${error.problems.map((p) => `  ${p}`).join('\n')}\n`);
      return EXIT_USAGE;
    }
    if (error instanceof DomainError) {
      process.stderr.write(`authd: ${error.message}\n`);
      return EXIT_FAILURE;
    }
    if (error instanceof UnavailableError) {
      const dependency = error.dependency === 'redis' ? 'redis' : 'postgres';
      const url = dependency === 'redis' ? process.env.REDIS_URL : process.env.DATABASE_URL;
      process.stderr.write(`authd: ${describeConnectionError(error, dependency, url) ?? error.message}\n`);
      return EXIT_FAILURE;
    }
    process.stderr.write(`authd: ${(error as Error).message}\n`);
    return EXIT_FAILURE;
  }
}

if (require.main === module) {
  runCli(process.argv).then((code) => {
    // serve keeps running; every other command ends here. A serve that failed to start exits at
    // once, whatever it had opened before failing (a supervisor must see the failure, not a hang).
    if (process.argv.includes('serve') && code !== 0) process.exit(code);
    if (!process.argv.includes('serve')) process.exitCode = code;
  }, (error: unknown) => {
    // runCli answers every failure with an exit code; this is a bug, and still no stack trace.
    process.stderr.write(`authd: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = EXIT_FAILURE;
  });
}
