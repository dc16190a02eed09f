import crypto from 'node:crypto';

/**
 * The MFA master key (32 bytes from the keys directory, or AUTHD_MFA_KEY) split by HKDF into one
 * key per use, so the key that encrypts TOTP secrets never also digests recovery codes.
 */
export interface MfaKeys {
  /** AES-256-GCM key for TOTP secrets at rest. */
  secrets: Buffer;
  /** HMAC-SHA-256 key for recovery-code digests: a database dump alone cannot test guesses. */
  recoveryCodes: Buffer;
}

export function deriveMfaKeys(master: Buffer): MfaKeys {
  const derive = (info: string) => Buffer.from(crypto.hkdfSync('sha256', master, Buffer.alloc(0), info, 32));
  return { secrets: derive('authd mfa totp secret v1'), recoveryCodes: derive('authd mfa recovery code v1') };
}

const VERSION = 'v1';

/** AES-256-GCM, `v1.<iv>.<tag>.<ciphertext>` in base64url; the user id is bound as associated data. */
export function sealSecret(key: Buffer, plaintext: Buffer, userId: string): string {
  const iv = crypto.randomBytes(12);
  const cipher = crypto.createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(userId));
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return [VERSION, iv, cipher.getAuthTag(), ciphertext]
    .map((p) => (typeof p === 'string' ? p : p.toString('base64url')))
    .join('.');
}

/** Throws when the box was not sealed with this key for this user (a wrong AUTHD_MFA_KEY, a row copied to another user). */
export function openSecret(key: Buffer, sealed: string, userId: string): Buffer {
  const [version, iv, tag, ciphertext] = sealed.split('.');
  if (version !== VERSION || ciphertext === undefined) throw new Error('unknown MFA secret format');
  const decipher = crypto.createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'));
  decipher.setAAD(Buffer.from(userId));
  decipher.setAuthTag(Buffer.from(tag, 'base64url'));
  return Buffer.concat([decipher.update(Buffer.from(ciphertext, 'base64url')), decipher.final()]);
}
