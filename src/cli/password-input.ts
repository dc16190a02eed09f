import crypto from 'node:crypto';
import readline from 'node:readline';
import { DomainError } from '../errors';
import type { CliIo } from './context';

async function readStdin(stdin: CliIo['stdin']): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
}

function promptHidden(io: CliIo, question: string): Promise<string> {
  return new Promise((resolve) => {
    const rl = readline.createInterface({ input: io.stdin, output: io.stdout, terminal: true });
    const output = rl as unknown as { _writeToOutput: (s: string) => void };
    let prompted = false;
    output._writeToOutput = (s: string) => {
      if (!prompted) {
        io.stdout.write(s);
        prompted = true;
      }
    };
    rl.question(question, (answer) => {
      rl.close();
      io.stdout.write('\n');
      resolve(answer);
    });
  });
}

export interface PasswordSource {
  passwordStdin?: boolean;
  generatePassword?: boolean;
}

/** A password from stdin, a generated one (printed once), or a hidden prompt; never from argv. */
export async function readPassword(
  source: PasswordSource,
  io: CliIo,
): Promise<{ password: string; generated: boolean }> {
  if (source.passwordStdin) return { password: await readStdin(io.stdin), generated: false };
  if (source.generatePassword) return { password: crypto.randomBytes(15).toString('base64url'), generated: true };
  if (!io.stdin.isTTY)
    throw new DomainError('invalid', 'No terminal to ask for a password: use --password-stdin or --generate-password.');
  const password = await promptHidden(io, 'Password: ');
  if ((await promptHidden(io, 'Repeat password: ')) !== password)
    throw new DomainError('invalid', 'The passwords do not match.');
  return { password, generated: false };
}
