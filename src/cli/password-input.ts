import crypto from 'node:crypto';
import readline from 'node:readline';
import { DomainError } from '../errors';

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

function promptHidden(question: string): Promise<string> {
  return new Promise((resolve) => {
    const rl = readline.createInterface({ input: process.stdin, output: process.stdout, terminal: true });
    const output = rl as unknown as { _writeToOutput: (s: string) => void };
    let prompted = false;
    output._writeToOutput = (s: string) => {
      if (!prompted) {
        process.stdout.write(s);
        prompted = true;
      }
    };
    rl.question(question, (answer) => {
      rl.close();
      process.stdout.write('\n');
      resolve(answer);
    });
  });
}

export interface PasswordSource {
  passwordStdin?: boolean;
  generatePassword?: boolean;
}

/** A password from stdin, a generated one (printed once), or a hidden prompt; never from argv. */
export async function readPassword(source: PasswordSource): Promise<{ password: string; generated: boolean }> {
  if (source.passwordStdin) return { password: await readStdin(), generated: false };
  if (source.generatePassword) return { password: crypto.randomBytes(15).toString('base64url'), generated: true };
  if (!process.stdin.isTTY) throw new DomainError('invalid', 'No terminal to ask for a password: use --password-stdin or --generate-password.');
  const password = await promptHidden('Password: ');
  if ((await promptHidden('Repeat password: ')) !== password) throw new DomainError('invalid', 'The passwords do not match.');
  return { password, generated: false };
}
