import type { Command } from 'commander';
import type { CliContext } from '../context';
import { formatRows } from '../format';

/** `authd users sessions` and `authd users revoke-sessions`: a user's refresh-token families. */
export function registerSessionCommands(users: Command, cli: CliContext): void {
  users
    .command('sessions')
    .argument('<username>')
    .description('list the sessions (refresh-token families) of a user')
    .option('--all', 'include revoked and expired sessions')
    .option('--json', 'print JSON')
    .action(async (username: string, opts) => {
      const rows = await cli.withServices(async (s) => {
        const user = await s.users.requireUser(username);
        return s.sessions.listForUser(user.id, new Date(s.clock.now()), Boolean(opts.all));
      });
      cli.out(
        formatRows(
          rows.map((r) => ({
            session: r.id,
            client: r.clientId,
            created: r.createdAt,
            last_used: r.lastUsedAt,
            expires: r.expiresAt,
            ip: r.ip,
            user_agent: r.userAgent,
            ...(opts.all && { revoked: r.revokedAt, reason: r.revokedReason }),
          })),
          opts.json,
        ),
      );
    });

  users
    .command('revoke-sessions')
    .argument('<username>')
    .description('sign a user out everywhere: revoke every session and every access token issued so far')
    .option('--json', 'print JSON')
    .action(async (username: string, opts) => {
      const ids = await cli.withServices(async (s) => {
        const user = await s.users.requireUser(username);
        const revoked = await s.revoker.revokeUser(user.id, 'revoked_by_operator');
        s.audit.record({ type: 'user_sessions_revoked', userId: user.id, details: { sessions: revoked.length } }); // as the admin API does
        return revoked;
      });
      cli.answer(
        opts,
        { username, revoked_sessions: ids.length },
        `${username}: ${ids.length} session(s) revoked; access tokens issued until now are revoked too`,
      );
    });
}
