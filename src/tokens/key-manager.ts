import {
  listSigningKeys,
  retireSigningKey,
  revokeSigningKey,
  rotateSigningKey,
  type KeyManagementOptions,
  type KeySummary,
} from './key-management';
import type { SigningKeyRecord } from './key-store';
import type { KeyRing } from './key-ring';

export interface RotateOptions {
  /** An emergency (a leaked key): the new key signs at once and the others retire now. */
  immediate?: boolean;
  /** With immediate: every other key is revoked in the same step. */
  revokeOld?: boolean;
}

/**
 * The signing keys' life cycle as one object: every change reloads this instance's key ring
 * before it returns, so the next token is signed (and the next JWKS published) as the change
 * says, without waiting for the ring's refresh interval. Other instances follow at theirs.
 */
export interface KeyManager {
  list(): Promise<KeySummary[]>;
  rotate(options?: RotateOptions): Promise<SigningKeyRecord & { revoked?: string[] }>;
  revoke(kid: string): Promise<{ liveRefreshTokens: number }>;
  retire(kid: string, options?: { force?: boolean }): Promise<void>;
}

export function createKeyManager(options: KeyManagementOptions, ring: Pick<KeyRing, 'reload'>): KeyManager {
  /** A change that failed half-way (rotate --revoke-old) may still have changed something: reload either way. */
  async function changing<T>(change: () => Promise<T>): Promise<T> {
    let result: T;
    try {
      result = await change();
    } catch (error) {
      await ring.reload().catch(() => {});
      throw error;
    }
    await ring.reload();
    return result;
  }

  return {
    list: () => listSigningKeys(options),
    rotate: ({ immediate = false, revokeOld = false } = {}) =>
      changing(() => rotateSigningKey(options, immediate, revokeOld)),
    revoke: (kid) => changing(() => revokeSigningKey(options, kid)),
    retire: (kid, { force = false } = {}) => changing(() => retireSigningKey(options, kid, force)),
  };
}
