import type { JWK } from 'jose';

export interface SigningKeyRecord {
  kid: string;
  publicJwk: JWK;
  createdAt: Date;
  activatesAt: Date;
  retiresAt: Date | null;
  /** Set when the key was declared compromised: from then on nothing it signed is trusted. */
  revokedAt: Date | null;
}

export type KeyState = 'standby' | 'active' | 'retired' | 'expired' | 'revoked';

/**
 * A key's state is a function of time alone, so every instance agrees without coordination:
 * standby until activates_at, active until retires_at, retired while tokens it signed may live.
 * A revoked key is revoked for good: its tokens are forgeries as far as anyone can tell.
 */
export function keyState(key: SigningKeyRecord, now: number, maxTokenLifetimeMs: number): KeyState {
  if (key.revokedAt !== null) return 'revoked';
  if (now < key.activatesAt.getTime()) return 'standby';
  if (key.retiresAt === null || now < key.retiresAt.getTime()) return 'active';
  if (now < key.retiresAt.getTime() + maxTokenLifetimeMs) return 'retired';
  return 'expired';
}

/**
 * The signing keys' public records (private halves live in the keys directory, never here).
 * Every backend keeps: a key's state is a function of its timestamps and the caller's now
 * (keyState), so writes only ever set timestamps, each in one statement; revocation is for good
 * and idempotent; callers that read-then-write (rotate, retire, revoke) hold the startup lock.
 */
export interface KeyStore {
  /** Every key, in activation order (kid breaks ties). */
  list(): Promise<SigningKeyRecord[]>;
  /** Throws when the kid exists (kids are random: that is a bug, not a race to handle). */
  insert(key: SigningKeyRecord): Promise<void>;
  /** Schedules retirement at `at` of every key still unretired then (optionally all but one kid). */
  retireAllAt(at: Date, exceptKid?: string): Promise<void>;
  /** Undoes retireAllAt(at): the keys that were to retire at that instant stay active. */
  cancelRetirementsAt(at: Date): Promise<void>;
  /** Retires a key at `at`; false when it was already retired by then (or is unknown). */
  retire(kid: string, at: Date): Promise<boolean>;
  /** Revokes a key (retiring it too, if it had not retired yet); false when already revoked or unknown. */
  revoke(kid: string, at: Date): Promise<boolean>;
  /** How many refresh tokens signed by kid could still be rotated: the sessions a revocation touches. */
  countLiveRefreshTokens(kid: string, now: Date): Promise<number>;
}
