import type { Command } from 'commander';
import { AUDIT_EVENT_TYPES } from '../../audit/audit-log';
import type { CliContext } from '../context';
import { formatRows } from '../format';
import { list, parseWhen } from '../options';

/** `authd audit`: the audit trail. */
export function registerAuditCommand(program: Command, cli: CliContext): void {
  program
    .command('audit')
    .description('print the audit trail, newest first')
    .option('--user <username>', 'only events of this user')
    .option('--type <types>', `only these event types, comma-separated (${AUDIT_EVENT_TYPES.join(', ')})`, list, [])
    .option('--since <when>', 'from this time: an ISO date or a duration ago (15m, 24h, 7d)')
    .option('--until <when>', 'before this time: an ISO date or a duration ago')
    .option('--limit <n>', 'at most this many events', '100')
    .option('--json', 'print JSON')
    .action(async (opts) => {
      const rows = await cli.withServices(async (s) =>
        s.audit.query({
          ...(opts.user && { userId: (await s.users.requireUser(opts.user)).id }),
          types: opts.type,
          ...(opts.since && { since: parseWhen(opts.since, s.clock.now()) }),
          ...(opts.until && { until: parseWhen(opts.until, s.clock.now()) }),
          limit: Number(opts.limit),
        }),
      );
      cli.out(
        formatRows(
          rows.map((r) => ({
            time: r.occurredAt,
            type: r.type,
            user: r.userId,
            client: r.clientId,
            ip: r.ip,
            request: r.requestId,
            details: JSON.stringify(r.details),
            ...(opts.json && { user_agent: r.userAgent }),
          })),
          opts.json,
        ),
      );
    });
}
