import type { Command } from 'commander';
import { DomainError } from '../../errors';
import { presentUser } from '../../http/presenters';
import { normalizeUsername } from '../../users/username';
import type { CliContext } from '../context';
import { formatRecord, formatRows } from '../format';
import { list } from '../options';
import { readPassword } from '../password-input';
import { registerSessionCommands } from './sessions';
import { registerUserFileCommands } from './user-files';

/** `authd users …`: accounts, their roles, scopes, email and metadata; their sessions and user files too. */
export function registerUserCommands(users: Command, cli: CliContext): void {
  const passwordOptions = (cmd: Command) =>
    cmd
      .option('--password-stdin', 'read the password from standard input')
      .option('--generate-password', 'generate a random password and print it once');

  passwordOptions(users.command('create').argument('<username>').description('create a user (asks for a password)'))
    .option('--role <roles>', 'roles, comma-separated or repeated', list, [])
    .option('--scope <scopes>', 'scopes the user may be granted, comma-separated or repeated', list, [])
    .option('--json', 'print JSON')
    .action(async (username: string, opts) => {
      const { password, generated } = await readPassword(opts, cli.io);
      const user = await cli.withServices((s) =>
        s.users.create({ username, password, roles: opts.role, scopes: opts.scope }),
      );
      cli.out(
        formatRecord(
          {
            id: user.id,
            username: user.username,
            roles: user.roles,
            scopes: user.scopes,
            ...(generated && { password }),
          },
          opts.json,
        ),
      );
      if (generated && !opts.json) cli.err('The password is shown once; it is stored only as a hash.\n');
    });

  passwordOptions(
    users.command('set-password').argument('<username>').description('set a new password (ends every session)'),
  )
    .option('--json', 'print JSON')
    .action(async (username: string, opts) => {
      const { password, generated } = await readPassword(opts, cli.io);
      const user = await cli.withServices((s) => s.users.setPassword(username, password));
      cli.answer(
        opts,
        { id: user.id, username: user.username, ...(generated && { password }) },
        generated ? `password: ${password}` : 'password changed; every session of the user was revoked',
      );
    });

  for (const [name, disabled] of [
    ['disable', true],
    ['enable', false],
  ] as const) {
    users
      .command(name)
      .argument('<username>')
      .description(disabled ? 'disable a user (ends every session)' : 'enable a disabled user')
      .option('--json', 'print JSON')
      .action(async (username: string, opts) => {
        const user = await cli.withServices((s) => s.users.setDisabled(username, disabled));
        cli.answer(opts, presentUser(user), `${username}: ${disabled ? 'disabled' : 'enabled'}`);
      });
  }

  users
    .command('set-roles')
    .argument('<username>')
    .argument('[roles...]')
    .description('replace the roles of a user')
    .option('--json', 'print JSON')
    .action(async (username: string, roles: string[], opts) => {
      const user = await cli.withServices((s) =>
        s.users.setRoles(
          username,
          roles.flatMap((r) => list(r)),
        ),
      );
      cli.answer(opts, presentUser(user), `${user.username}: roles ${user.roles.join(' ') || '(none)'}`);
    });

  users
    .command('set-scopes')
    .argument('<username>')
    .argument('[scopes...]')
    .description('replace the scopes a user may be granted')
    .option('--json', 'print JSON')
    .action(async (username: string, scopes: string[], opts) => {
      const user = await cli.withServices((s) =>
        s.users.setScopes(
          username,
          scopes.flatMap((r) => list(r)),
        ),
      );
      cli.answer(opts, presentUser(user), `${user.username}: scopes ${user.scopes.join(' ') || '(none)'}`);
    });

  users
    .command('set-email')
    .argument('<username>')
    .argument('<email>', 'the address, or "none" to remove it')
    .option('--verified', 'mark the address verified (you checked it yourself)')
    .description('set the email address of a user (unique; a new address is unverified)')
    .action(async (username: string, email: string, opts: { verified?: boolean }) => {
      const user = await cli.withServices((s) =>
        s.users.setEmail(username, email === 'none' ? null : email, { ...(opts.verified && { verified: true }) }),
      );
      cli.out(
        `${user.username}: email ${user.email ?? '(none)'}${user.email ? (user.emailVerified ? ' (verified)' : ' (unverified)') : ''}\n`,
      );
    });

  users
    .command('set-metadata')
    .argument('<username>')
    .argument('<json>', 'a JSON object, e.g. \'{"org_id":"acme"}\' (replaces the metadata; {} clears it)')
    .description('replace the metadata of a user (copied into tokens of clients that name its keys)')
    .action(async (username: string, json: string) => {
      let metadata: unknown;
      try {
        metadata = JSON.parse(json);
      } catch {
        throw new DomainError('invalid', 'Metadata must be a JSON object.');
      }
      const user = await cli.withServices((s) => s.users.setMetadata(username, metadata));
      cli.out(`${user.username}: metadata ${JSON.stringify(user.metadata)}\n`);
    });

  registerSessionCommands(users, cli);

  users
    .command('show')
    .argument('<username>')
    .description('show one user (never the password hash)')
    .option('--json', 'print JSON')
    .action(async (username: string, opts) => {
      cli.out(formatRecord(presentUser(await cli.withServices((s) => s.users.requireUser(username))), opts.json));
    });

  users
    .command('delete')
    .argument('<username>')
    .description('delete a user and their sessions; audit rows keep the id')
    .option('--json', 'print JSON')
    .action(async (username: string, opts) => {
      const user = await cli.withServices((s) => s.users.delete(username));
      cli.answer(
        opts,
        { id: user.id, username: user.username, deleted: true },
        `${user.username}: deleted; every session was revoked`,
      );
    });

  users
    .command('unlock')
    .argument('<username>')
    .description('clear failed-login counters and lockouts of a user')
    .action(async (username: string) => {
      await cli.withServices(async (s) => {
        const user = await s.users.requireUser(username);
        await s.throttle.unlock(normalizeUsername(username));
        s.audit.record({ type: 'user_unlocked', userId: user.id });
      });
      cli.out(`${username}: unlocked\n`);
    });

  users
    .command('mfa-reset')
    .argument('<username>')
    .description('remove the second factor of a user who lost it (audited); the next sign-in is password only')
    .option('--json', 'print JSON')
    .action(async (username: string, opts) => {
      const { user, removed } = await cli.withServices(async (s) => {
        const found = await s.users.requireUser(username);
        return { user: found, removed: await s.mfa.remove(found.id, 'admin') };
      });
      cli.answer(
        opts,
        { id: user.id, username: user.username, removed },
        `${user.username}: ${removed ? 'second factor removed' : 'had no second factor'}`,
      );
    });

  users
    .command('list')
    .description('list users')
    .option('--limit <n>', 'how many', '100')
    .option('--offset <n>', 'skip', '0')
    .option('--json', 'print JSON')
    .action(async (opts) => {
      const rows = await cli.withServices((s) => s.users.list(Number(opts.limit), Number(opts.offset)));
      cli.out(
        formatRows(
          rows.map((u) => ({
            id: u.id,
            username: u.username,
            roles: u.roles,
            scopes: u.scopes,
            disabled: u.disabledAt !== null,
            created: u.createdAt,
          })),
          opts.json,
        ),
      );
    });

  registerUserFileCommands(users, cli);
}
