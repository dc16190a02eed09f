import type { AuditLog } from '../audit/audit-log';
import type { Clock } from '../clock';
import { DomainError } from '../errors';
import type { RevocationStore } from '../revocation/revocation-store';
import type { Database } from '../store/database';
import { withStartupLock } from '../store/startup-lock';
import { generateSigningKey, loadPrivateKey, savePrivateKey } from './key-files';
import { createKeyRepository } from './key-repository';
import { keyState, type KeyState, type SigningKeyRecord } from './key-store';

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
  /** Where revoked kids are published, so every instance and verifier refuses them before its ring reloads. */
  revocations: RevocationStore;
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
  const record = {
    kid: generated.kid,
    publicJwk: generated.publicJwk,
    createdAt: new Date(options.clock.now()),
    activatesAt,
    retiresAt: null,
    revokedAt: null,
  };
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
 * `immediate` (an emergency, e.g. a leaked key) the new key signs at once and the others retire
 * now; with `revokeOld` too, every other key is revoked in the same step.
 */
export async function rotateSigningKey(
  options: KeyManagementOptions,
  immediate = false,
  revokeOld = false,
): Promise<SigningKeyRecord & { revoked?: string[] }> {
  if (revokeOld && !immediate)
    throw new DomainError(
      'invalid',
      'Revoking the old keys needs an immediate rotation: nothing else could sign.',
      'immediate_rotation_required',
    );
  return withStartupLock(options.db, async () => {
    const now = options.clock.now();
    const activatesAt = new Date(immediate ? now : now + options.standbyMs);
    const record = await createKey(options, activatesAt);
    const repository = createKeyRepository(options.db);
    await repository.retireAllAt(activatesAt, record.kid);
    options.audit?.record({
      type: 'key_rotated',
      details: { kid: record.kid, activates_at: activatesAt.toISOString(), immediate },
    });
    if (!revokeOld) return record;
    const revoked: string[] = [];
    for (const key of await repository.list()) {
      if (key.kid === record.kid || keyState(key, now, options.maxTokenLifetimeMs) === 'revoked') continue;
      await revokeKey(options, key, now);
      revoked.push(key.kid);
    }
    return { ...record, revoked };
  });
}

/**
 * Publishes the revocation first (durable table, then the Redis index), so a failure half-way
 * leaves the key distrusted rather than trusted; then marks the key revoked for every ring.
 */
async function revokeKey(options: KeyManagementOptions, key: SigningKeyRecord, now: number): Promise<number> {
  const repository = createKeyRepository(options.db);
  // Nothing it signed can matter after the longest token lifetime from now.
  await options.revocations.revoke([
    { kind: 'kid', subject: key.kid, revokedAt: new Date(now), expiresAt: new Date(now + options.maxTokenLifetimeMs) },
  ]);
  await repository.revoke(key.kid, new Date(now));
  if (keyState(key, now, options.maxTokenLifetimeMs) === 'standby')
    await repository.cancelRetirementsAt(key.activatesAt);
  const liveRefreshTokens = await repository.countLiveRefreshTokens(key.kid, new Date(now));
  options.audit?.record({ type: 'key_revoked', details: { kid: key.kid, live_refresh_tokens: liveRefreshTokens } });
  return liveRefreshTokens;
}

/**
 * Distrusts a key at once (it leaked): it stops signing, verifying and being published. Sessions
 * whose current refresh token it signed continue (the grant moves them to the current key);
 * returns how many such refresh tokens there are.
 */
export async function revokeSigningKey(
  options: KeyManagementOptions,
  kid: string,
): Promise<{ liveRefreshTokens: number }> {
  return withStartupLock(options.db, async () => {
    const now = options.clock.now();
    const keys = await createKeyRepository(options.db).list();
    const key = keys.find((k) => k.kid === kid);
    if (!key) throw new DomainError('not_found', `No signing key with kid ${kid}.`, 'key_not_found');
    const state = keyState(key, now, options.maxTokenLifetimeMs);
    if (state === 'revoked') throw new DomainError('invalid', `Key ${kid} is already revoked.`, 'key_already_revoked');
    const othersActive = keys.some((k) => k.kid !== kid && keyState(k, now, options.maxTokenLifetimeMs) === 'active');
    if (state === 'active' && !othersActive) {
      throw new DomainError(
        'invalid',
        'This is the only active key: run "authd keys rotate --immediate --revoke-old" to replace and revoke it in one step.',
        'only_active_key',
      );
    }
    return { liveRefreshTokens: await revokeKey(options, key, now) };
  });
}

/** Retires one key now: it stops signing and is published only until its tokens have expired. */
export async function retireSigningKey(options: KeyManagementOptions, kid: string, force = false): Promise<void> {
  await withStartupLock(options.db, async () => {
    const now = options.clock.now();
    const repository = createKeyRepository(options.db);
    const keys = await repository.list();
    const key = keys.find((k) => k.kid === kid);
    if (!key) throw new DomainError('not_found', `No signing key with kid ${kid}.`, 'key_not_found');
    const othersActive = keys.some((k) => k.kid !== kid && keyState(k, now, options.maxTokenLifetimeMs) === 'active');
    if (!othersActive && !force) {
      throw new DomainError(
        'invalid',
        'This is the only active key: run "authd keys rotate" first (or "rotate --immediate" in an emergency), or pass --force to stop signing altogether.',
        'only_active_key',
      );
    }
    if (!(await repository.retire(kid, new Date(now)))) {
      // A retired key still verifies what it signed; that is what a leak calls for ending.
      const state = keyState(key, now, options.maxTokenLifetimeMs);
      throw new DomainError(
        'invalid',
        state === 'revoked'
          ? `Key ${kid} is already revoked.`
          : `Key ${kid} is already retired; it still verifies the tokens it signed until they expire. If it leaked, run "authd keys revoke ${kid}".`,
        state === 'revoked' ? 'key_already_revoked' : 'key_already_retired',
      );
    }
    // Retiring a key that never signed cancels its rotation: the keys it was to replace stay active.
    if (keyState(key, now, options.maxTokenLifetimeMs) === 'standby')
      await repository.cancelRetirementsAt(key.activatesAt);
    options.audit?.record({ type: 'key_retired', details: { kid, forced: force } });
  });
}

export async function listSigningKeys(options: KeyManagementOptions): Promise<KeySummary[]> {
  const now = options.clock.now();
  const keys = await createKeyRepository(options.db).list();
  return Promise.all(
    keys.map(async (k) => ({
      ...k,
      state: keyState(k, now, options.maxTokenLifetimeMs),
      hasPrivateKey: (await loadPrivateKey(options.keysDir, k.kid)) !== undefined,
    })),
  );
}
