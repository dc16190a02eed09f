#!/usr/bin/env node
import './threadpool';
import { Command, CommanderError } from 'commander';
import { ConfigError } from '../config';
import { DomainError, UnavailableError } from '../errors';
import { describeConnectionError } from '../store/connection-errors';
import { registerAuditCommand } from './commands/audit';
import { registerClientCommands } from './commands/clients';
import { registerKeyCommands } from './commands/keys';
import { registerServerCommands } from './commands/server';
import { registerUserCommands } from './commands/users';
import { createCliContext, processIo, type CliContext, type CliContextOptions, type CliIo } from './context';

const EXIT_FAILURE = 1;
const EXIT_USAGE = 2;

export function buildProgram(cli: CliContext): Command {
  const { stdout, stderr } = cli.io;
  const program = new Command('authd')
    .description(
      'authd: an OAuth2 token issuer (password, refresh_token and client_credentials grants; RS256 JWTs; JWKS)',
    )
    // Before any subcommand is added: they inherit it.
    .configureOutput({
      writeOut: (text) => cli.out(text),
      writeErr: (text) => cli.err(text),
      getOutHelpWidth: () => (stdout.isTTY && stdout.columns) || 80, // commander's own rule, on these streams
      getErrHelpWidth: () => (stderr.isTTY && stderr.columns) || 80,
    })
    .showHelpAfterError()
    .exitOverride()
    .option('--verbose', 'print log lines (JSON, to stderr) while a command runs')
    .hook('preAction', (command) => {
      cli.verbose = Boolean(command.opts().verbose);
    });

  registerServerCommands(program, cli);
  registerUserCommands(program.command('users').description('manage users'), cli);
  registerClientCommands(program.command('clients').description('manage OAuth clients'), cli);
  registerAuditCommand(program, cli);
  registerKeyCommands(program.command('keys').description('manage signing keys'), cli);
  return program;
}

/** Runs `authd <argv[2..]>` and returns the exit code; everything it writes goes to `io`. */
export async function runCli(
  argv: string[],
  io: CliIo = processIo(),
  options: CliContextOptions = {},
): Promise<number> {
  const cli = createCliContext(io, options);
  try {
    await buildProgram(cli).parseAsync(argv);
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : EXIT_USAGE;
    if (error instanceof ConfigError) {
      cli.err(`authd: configuration error\n${error.problems.map((p) => `  ${p}`).join('\n')}\n`);
      return EXIT_USAGE;
    }
    if (error instanceof DomainError) {
      cli.err(`authd: ${error.message}\n`);
      return EXIT_FAILURE;
    }
    if (error instanceof UnavailableError) {
      const dependency = error.dependency === 'redis' ? 'redis' : 'postgres';
      const url = dependency === 'redis' ? io.env.REDIS_URL : io.env.DATABASE_URL;
      cli.err(`authd: ${describeConnectionError(error, dependency, url) ?? error.message}\n`);
      return EXIT_FAILURE;
    }
    cli.err(`authd: ${(error as Error).message}\n`);
    return EXIT_FAILURE;
  }
}

if (require.main === module) {
  runCli(process.argv).then(
    (code) => {
      // serve keeps running; every other command ends here. A serve that failed to start exits at
      // once, whatever it had opened before failing (a supervisor must see the failure, not a hang).
      if (process.argv.includes('serve') && code !== 0) process.exit(code);
      if (!process.argv.includes('serve')) process.exitCode = code;
    },
    (error: unknown) => {
      // runCli answers every failure with an exit code; this is a bug, and still no stack trace.
      process.stderr.write(`authd: ${error instanceof Error ? error.message : String(error)}\n`);
      process.exitCode = EXIT_FAILURE;
    },
  );
}
