import type { Command } from 'commander';
import type { CliContext } from '../context';
import { formatRows } from '../format';

/** `authd keys …`: the signing keys and their life cycle. */
export function registerKeyCommands(keys: Command, cli: CliContext): void {
  keys
    .command('list')
    .description('list signing keys and their states')
    .option('--json', 'print JSON')
    .action(async (opts) => {
      const rows = await cli.withServices((s) => s.keys.list());
      cli.out(
        formatRows(
          rows.map((k) => ({
            kid: k.kid,
            state: k.state,
            created: k.createdAt,
            activates: k.activatesAt,
            retires: k.retiresAt,
            revoked: k.revokedAt,
            private_key: k.hasPrivateKey ? 'present' : 'MISSING',
          })),
          opts.json,
        ),
      );
    });
  keys
    .command('rotate')
    .description('add a standby key; it signs once every verifier has had time to fetch it')
    .option('--immediate', 'emergency: sign with the new key now and retire the others now')
    .option(
      '--revoke-old',
      'with --immediate, for a leaked key: revoke every other key too (their tokens are refused at once)',
    )
    .option('--json', 'print JSON')
    .action(async (opts) => {
      const key = await cli.withServices((s) =>
        s.keys.rotate({ immediate: Boolean(opts.immediate), revokeOld: Boolean(opts.revokeOld) }),
      );
      const revoked = key.revoked ?? [];
      cli.answer(
        opts,
        { kid: key.kid, activates_at: key.activatesAt.toISOString(), revoked },
        [
          `new key ${key.kid} ${opts.immediate ? 'is active now' : `activates at ${key.activatesAt.toISOString()}`}`,
          ...revoked.map((kid) => `key ${kid} revoked`),
        ].join('\n'),
      );
    });
  keys
    .command('revoke')
    .argument('<kid>')
    .description(
      'distrust a leaked key at once: it stops signing, verifying and being published, and every token it signed is refused',
    )
    .option('--json', 'print JSON')
    .action(async (kid: string, opts) => {
      const { liveRefreshTokens } = await cli.withServices((s) => s.keys.revoke(kid));
      cli.answer(
        opts,
        { kid, revoked: true, live_refresh_tokens: liveRefreshTokens },
        `key ${kid} revoked; ${liveRefreshTokens} live refresh token(s) it signed move to the current key at their next refresh`,
      );
    });
  keys
    .command('retire')
    .argument('<kid>')
    .description('stop signing with a key; it stays published until its tokens expire')
    .option('--force', 'retire even the last active key')
    .option('--json', 'print JSON')
    .action(async (kid: string, opts) => {
      await cli.withServices((s) => s.keys.retire(kid, { force: Boolean(opts.force) }));
      cli.answer(opts, { kid, retired: true }, `key ${kid} retired`);
    });
}
