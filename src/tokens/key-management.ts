import type { AuditLog } from '../audit/audit-log';
import type { Clock } from '../clock';
import { DomainError } from '../errors';
import type { Database } from '../store/database';
import { withStartupLock } from '../store/migrate';
import { generateSigningKey, loadPrivateKey, savePrivateKey } from './key-files';
import { createKeyRepository, keyState, type KeyState, type SigningKeyRecord } from './key-repository';

export interface KeyManagementOptions {
  db: Database;
  keysDir: string;
  clock: Clock;
  maxTokenLifetimeMs: number;
  /**
   * How long a new key waits in standby: long enough for every instance to reload its ring and
   * for every verifier's cached JWKS to expire, so no verifier meets a token signed by a kid it
   * has never seen.
   */
  standbyMs: number;
  audit?: AuditLog;
}

export interface KeySummary extends SigningKeyRecord {
  state: KeyState;
  hasPrivateKey: boolean;
}

async function createKey(options: KeyManagementOptions, activatesAt: Date): Promise<SigningKeyRecord> {
  const generated = await generateSigningKey();
  // The file first: a row whose private key is missing would leave the ring unable to sign.
  await savePrivateKey(options.keysDir, generated);
  const record = { kid: generated.kid, publicJwk: generated.publicJwk, createdAt: new Date(options.clock.now()), activatesAt, retiresAt: null };
  await createKeyRepository(options.db).insert(record);
  return record;
}

/** At start: makes sure some key can sign now, creating the first one if there is none. */
export async function ensureSigningKey(options: KeyManagementOptions): Promise<SigningKeyRecord | undefined> {
  return withStartupLock(options.db, async () => {
    const now = options.clock.now();
    const keys = await createKeyRepository(options.db).list();
    if (keys.some((k) => keyState(k, now, options.maxTokenLifetimeMs) === 'active')) return undefined;
    // Nothing signs: a key that is immediately active is the only way to serve tokens at all.
    return createKey(options, new Date(now));
  });
}

/**
 * Adds a standby key and schedules the current ones to retire when it activates. With
 * `immediate` (an emergency, e.g. a leaked key) the new key signs at once and the others retire now.
 */
export async function rotateSigningKey(options: KeyManagementOptions, immediate = false): Promise<SigningKeyRecord> {
  return withStartupLock(options.db, async () => {
    const now = options.clock.now();
    const activatesAt = new Date(immediate ? now : now + options.standbyMs);
    const record = await createKey(options, activatesAt);
    await createKeyRepository(options.db).retireAllAt(activatesAt, record.kid);
    options.audit?.record({ type: 'key_rotated', details: { kid: record.kid, activates_at: activatesAt.toISOString(), immediate } });
    return record;
  });
}

/** Retires one key now: it stops signing and is published only until its tokens have expired. */
export async function retireSigningKey(options: KeyManagementOptions, kid: string, force = false): Promise<void> {
  await withStartupLock(options.db, async () => {
    const now = options.clock.now();
    const repository = createKeyRepository(options.db);
    const keys = await repository.list();
    const key = keys.find((k) => k.kid === kid);
    if (!key) throw new DomainError('not_found', `No signing key with kid ${kid}.`);
    const othersActive = keys.some((k) => k.kid !== kid && keyState(k, now, options.maxTokenLifetimeMs) === 'active');
    if (!othersActive && !force) {
      throw new DomainError('invalid', 'This is the only active key: run "authd keys rotate" first (or "rotate --immediate" in an emergency), or pass --force to stop signing altogether.');
    }
    if (!(await repository.retire(kid, new Date(now)))) throw new DomainError('invalid', `Key ${kid} is already retired.`);
    // Retiring a key that never signed cancels its rotation: the keys it was to replace stay active.
    if (keyState(key, now, options.maxTokenLifetimeMs) === 'standby') await repository.cancelRetirementsAt(key.activatesAt);
    options.audit?.record({ type: 'key_retired', details: { kid, forced: force } });
  });
}

export async function listSigningKeys(options: KeyManagementOptions): Promise<KeySummary[]> {
  const now = options.clock.now();
  const keys = await createKeyRepository(options.db).list();
  return Promise.all(keys.map(async (k) => ({
    ...k,
    state: keyState(k, now, options.maxTokenLifetimeMs),
    hasPrivateKey: (await loadPrivateKey(options.keysDir, k.kid)) !== undefined,
  })));
}
