import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { calculateJwkThumbprint, exportJWK, type JWK } from 'jose';

export interface GeneratedKey {
  kid: string;
  privateKey: crypto.KeyObject;
  publicJwk: JWK;
}

const KID = /^[A-Za-z0-9_-]{43}$/; // a base64url SHA-256 thumbprint, and nothing path-like

export function isWellFormedKid(kid: string): boolean {
  return KID.test(kid);
}

/** A fresh RSA-2048 key; its kid is the RFC 7638 thumbprint of the public key. */
export async function generateSigningKey(): Promise<GeneratedKey> {
  const { privateKey, publicKey } = await new Promise<crypto.KeyPairKeyObjectResult>((resolve, reject) =>
    crypto.generateKeyPair('rsa', { modulusLength: 2048 }, (err, pub, priv) =>
      err ? reject(err) : resolve({ publicKey: pub, privateKey: priv }),
    ),
  );
  const { kty, n, e } = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint({ kty, n, e }, 'sha256');
  return { kid, privateKey, publicJwk: { kty, n, e, kid, alg: 'RS256', use: 'sig' } };
}

/** Writes a file readable by its owner only; never replaces an existing one. */
async function writePrivateFile(file: string, contents: string | Buffer): Promise<void> {
  await fs.mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  const temporary = `${file}.${process.pid}.${crypto.randomBytes(4).toString('hex')}.tmp`;
  await fs.writeFile(temporary, contents, { mode: 0o600, flag: 'wx' });
  try {
    await fs.link(temporary, file); // fails if the file exists: two instances never clobber a key
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  } finally {
    await fs.unlink(temporary);
  }
}

function privateKeyPath(keysDir: string, kid: string): string {
  if (!isWellFormedKid(kid)) throw new Error(`refusing a malformed kid: ${JSON.stringify(kid)}`);
  return path.join(keysDir, `${kid}.pem`);
}

export async function savePrivateKey(keysDir: string, key: GeneratedKey): Promise<void> {
  const pem = key.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
  await writePrivateFile(privateKeyPath(keysDir, key.kid), pem);
}

/** A key file that others than its owner may read or write: refused, so nobody runs on a key that may have leaked. */
export class KeyFilePermissionError extends Error {
  constructor(
    readonly file: string,
    readonly mode: number,
  ) {
    super(
      `refusing key file ${file}: its mode ${mode.toString(8).padStart(4, '0')} gives group or others access; run chmod 600 ${file}`,
    );
  }
}

/** Reads a secret file, refusing one with group or world permission bits (checked on the open file). */
async function readPrivateFile(file: string): Promise<string> {
  const handle = await fs.open(file, 'r');
  try {
    const { mode } = await handle.stat();
    if (process.platform !== 'win32' && (mode & 0o077) !== 0) throw new KeyFilePermissionError(file, mode & 0o7777);
    return await handle.readFile('utf8');
  } finally {
    await handle.close();
  }
}

/** The private key for kid, or undefined when this instance's keys directory lacks it. */
export async function loadPrivateKey(keysDir: string, kid: string): Promise<crypto.KeyObject | undefined> {
  let pem: string;
  try {
    pem = await readPrivateFile(privateKeyPath(keysDir, kid));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  return crypto.createPrivateKey(pem);
}

const SECRET_KEY_FILE = 'client-secret.key';
const MFA_KEY_FILE = 'mfa.key';

/** 32 random bytes in a file beside the signing keys, created on first use (owner-only, never replaced). */
async function loadOrCreateKeyFile(keysDir: string, name: string): Promise<Buffer> {
  const file = path.join(keysDir, name);
  try {
    return Buffer.from((await readPrivateFile(file)).trim(), 'base64url');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  await writePrivateFile(file, crypto.randomBytes(32).toString('base64url') + '\n');
  return Buffer.from((await readPrivateFile(file)).trim(), 'base64url');
}

/** The HMAC key for client-secret digests: from the environment, else a file beside the signing keys. */
export async function loadOrCreateClientSecretKey(keysDir: string, fromEnv?: string): Promise<Buffer> {
  if (fromEnv) return Buffer.from(fromEnv, 'utf8');
  return loadOrCreateKeyFile(keysDir, SECRET_KEY_FILE);
}

/** The master key of MFA secrets at rest (AUTHD_MFA_KEY, else keys/mfa.key). Losing it disables every authenticator. */
export async function loadOrCreateMfaKey(keysDir: string, fromEnv?: string): Promise<Buffer> {
  if (fromEnv) return Buffer.from(fromEnv, 'utf8');
  return loadOrCreateKeyFile(keysDir, MFA_KEY_FILE);
}
