import type { Command } from 'commander';
import { migrate } from '../../store/migrate';
import type { CliContext } from '../context';
import { serve } from '../serve';

/** `authd serve` and `authd migrate`. */
export function registerServerCommands(program: Command, cli: CliContext): void {
  program
    .command('serve')
    .description('start the HTTP server (migrates the database first)')
    .action(async () => {
      await serve(cli.loadConfig());
    });

  program
    .command('migrate')
    .description('apply pending database migrations and exit')
    .option('--json', 'print JSON')
    .action(async (opts) => {
      const applied = await cli.withDatabase((db) => migrate(db));
      cli.answer(opts, { applied }, applied.length ? `applied: ${applied.join(', ')}` : 'database is up to date');
    });
}
