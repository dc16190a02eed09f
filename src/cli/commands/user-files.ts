import fs from 'node:fs';
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import { type Command, Option } from 'commander';
import { DomainError } from '../../errors';
import {
  csvHeader,
  exportRecord,
  formatFromFileName,
  formatRecord,
  readUserFile,
  USER_FILE_FORMATS,
  type UserFileFormat,
} from '../../users/user-file-format';
import { CONFLICT_POLICIES, importRecords, type ImportTotals } from '../../users/user-import';
import type { CliContext } from '../context';

const count = (n: number) => n.toLocaleString('en-US');
const describe = (t: ImportTotals) =>
  `${count(t.records)} records: ${count(t.created)} created, ${count(t.updated)} updated, ${count(t.skipped)} skipped, ${count(t.failed)} failed`;

function pickFormat(command: Command, option: UserFileFormat | undefined, file: string | undefined): UserFileFormat {
  const format = option ?? (file ? formatFromFileName(file) : 'jsonl');
  // A usage error: printed and exit 2, like commander's own.
  if (!format)
    command.error(`error: cannot tell the format of "${file}" from its name: pass --format jsonl or --format csv`, {
      exitCode: 2,
    });
  return format;
}

async function write(out: Writable, text: string): Promise<void> {
  if (!out.write(text)) await once(out, 'drain');
}

/** `authd users import` and `authd users export`: the user file format of src/users/user-file-format.ts. */
export function registerUserFileCommands(users: Command, cli: CliContext): void {
  users
    .command('import')
    .argument('<file>', 'a JSON Lines or CSV file ("-" for standard input)')
    .description(
      'import users with their existing password hashes (bcrypt, argon2, scrypt, pbkdf2-sha256); each is replaced by Argon2id at its next login',
    )
    .addOption(
      new Option('--format <format>', 'the file format (default: from the file name)').choices(USER_FILE_FORMATS),
    )
    .addOption(
      new Option('--on-conflict <policy>', 'an existing username: keep it as it is, or update it with the fields given')
        .choices(CONFLICT_POLICIES)
        .default('skip'),
    )
    .option('--json', 'print the summary as JSON')
    .action(
      async (
        file: string,
        opts: { format?: UserFileFormat; onConflict: 'skip' | 'update'; json?: boolean },
        command: Command,
      ) => {
        const format = pickFormat(command, opts.format, file === '-' ? undefined : file);
        // Opened before anything else, so a wrong path is a one-line error and no database is touched.
        const input = file === '-' ? cli.io.stdin : (await fs.promises.open(file)).createReadStream();
        const progress = Boolean(cli.io.stderr.isTTY) && !opts.json;
        const started = Date.now();
        const totals = await cli.withServices(async (s) => {
          const result = await importRecords(readUserFile(input, format), s.userImporter, {
            policy: opts.onConflict,
            onFailure: ({ line, error }) => cli.err(`${progress ? '\r\x1b[K' : ''}line ${line}: ${error}\n`),
            ...(progress && { onProgress: (t: ImportTotals) => cli.err(`\r\x1b[Kimporting… ${describe(t)}`) }),
          });
          if (progress) cli.err('\r\x1b[K');
          s.audit.record({
            type: 'users_imported',
            details: {
              via: 'cli',
              policy: opts.onConflict,
              created: result.created,
              updated: result.updated,
              skipped: result.skipped,
              failed: result.failed,
            },
          });
          return result;
        });
        const seconds = (Date.now() - started) / 1000;
        cli.out(
          opts.json
            ? `${JSON.stringify({ ...totals, seconds })}\n`
            : `imported ${describe(totals)} in ${seconds.toFixed(1)} s\n`,
        );
        if (totals.failed)
          throw new DomainError(
            'invalid',
            `${count(totals.failed)} record(s) were refused (listed above); the others were imported. Fix them and run the import again: it is idempotent.`,
          );
      },
    );

  users
    .command('export')
    .description('write every user as JSON Lines or CSV, the format users import reads')
    .addOption(
      new Option('--format <format>', 'the file format (default: from --output, else jsonl)').choices(
        USER_FILE_FORMATS,
      ),
    )
    .option('--output <file>', 'write to this file (created with mode 0600) instead of standard output')
    .option('--include-password-hashes', "include each user's password hash (treat the file as a secret)")
    .action(
      async (opts: { format?: UserFileFormat; output?: string; includePasswordHashes?: boolean }, command: Command) => {
        const format = pickFormat(command, opts.format, opts.output);
        const withHashes = Boolean(opts.includePasswordHashes);
        const out: Writable = opts.output ? fs.createWriteStream(opts.output, { mode: 0o600 }) : cli.io.stdout;
        const exported = await cli.withServices(async (s) => {
          if (format === 'csv') await write(out, csvHeader(withHashes));
          let n = 0;
          for (let after: string | undefined; ; ) {
            const page = await s.userRepository.page(500, after);
            for (const user of page) await write(out, formatRecord(exportRecord(user, withHashes), format));
            n += page.length;
            if (page.length < 500) break;
            after = page[page.length - 1].usernameNormalized;
          }
          return n;
        });
        if (opts.output) {
          out.end();
          await once(out, 'finish');
        }
        cli.err(`exported ${count(exported)} users${withHashes ? ', password hashes included' : ''}\n`);
      },
    );
}
