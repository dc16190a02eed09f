import fs from 'node:fs';
import path from 'node:path';
import {
  generateSigningKey,
  KeyFilePermissionError,
  loadOrCreateClientSecretKey,
  loadPrivateKey,
  savePrivateKey,
} from '../../src/tokens/key-files';
import { tempDir } from '../support/backends';

describe('key files', () => {
  let dir: string;
  beforeEach(() => {
    dir = tempDir('authd-key-files-');
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it.each([0o640, 0o604, 0o644, 0o660, 0o620, 0o601])(
    'refuses a signing key whose mode is %o, in one line naming the fix',
    async (mode) => {
      const key = await generateSigningKey();
      await savePrivateKey(dir, key);
      const file = path.join(dir, `${key.kid}.pem`);
      expect(fs.statSync(file).mode & 0o777).toBe(0o600);
      expect((await loadPrivateKey(dir, key.kid))!.asymmetricKeyType).toBe('rsa');

      fs.chmodSync(file, mode);
      const refused = loadPrivateKey(dir, key.kid);
      await expect(refused).rejects.toBeInstanceOf(KeyFilePermissionError);
      await expect(refused).rejects.toThrow(
        `refusing key file ${file}: its mode 0${mode.toString(8)} gives group or others access; run chmod 600 ${file}`,
      );
      await refused.catch((error: Error) => expect(error.message).not.toContain('\n'));
    },
  );

  it.each([0o600, 0o400])('accepts an owner-only key (mode %o) and loads that very key', async (mode) => {
    const key = await generateSigningKey();
    await savePrivateKey(dir, key);
    fs.chmodSync(path.join(dir, `${key.kid}.pem`), mode);
    const loaded = await loadPrivateKey(dir, key.kid);
    expect(loaded?.equals(key.privateKey)).toBe(true);
  });

  it('refuses a client-secret key file readable by others, and creates a new one owner-only', async () => {
    const first = await loadOrCreateClientSecretKey(dir);
    const file = path.join(dir, 'client-secret.key');
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(await loadOrCreateClientSecretKey(dir)).toEqual(first);
    fs.chmodSync(file, 0o644);
    await expect(loadOrCreateClientSecretKey(dir)).rejects.toThrow(
      `refusing key file ${file}: its mode 0644 gives group or others access; run chmod 600 ${file}`,
    );
  });
});
