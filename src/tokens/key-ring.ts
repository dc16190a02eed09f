import crypto from 'node:crypto';
import type { JWK } from 'jose';
import type { Clock } from '../clock';
import { loadPrivateKey } from './key-files';
import { keyState, type KeyStore, type KeyState, type SigningKeyRecord } from './key-store';

export interface RingKey extends SigningKeyRecord {
  publicKey: crypto.KeyObject;
  /** Undefined when this instance's keys directory lacks the private half. */
  privateKey: crypto.KeyObject | undefined;
}

export interface PublishedKeySet {
  body: string;
  etag: string;
}

export interface KeyRingOptions {
  repository: KeyStore;
  keysDir: string;
  clock: Clock;
  /** How long a retired key keeps verifying and being published: the longest token lifetime. */
  maxTokenLifetimeMs: number;
  /** Background reload period, so rotations made elsewhere reach this instance. */
  refreshIntervalMs: number;
  /** The fewest milliseconds between reloads caused by an unknown kid. */
  unknownKidCooldownMs?: number;
  onError?: (error: unknown) => void;
}

export class NoSigningKeyError extends Error {
  constructor(message = 'no active signing key with its private key in the keys directory') {
    super(message);
    this.name = 'NoSigningKeyError';
  }
}

export interface KeyRing {
  reload(): Promise<void>;
  /** The key that signs now: the newest active key whose private half this instance holds. */
  signingKey(): RingKey;
  /** A key that may have signed a token still in circulation; reloads once (with a cooldown) on a miss. */
  verificationKey(kid: string): Promise<crypto.KeyObject | undefined>;
  /** Any loaded key by kid, whatever its state (never a revoked one). */
  key(kid: string): RingKey | undefined;
  /**
   * The public half of a revoked key, for the one caller that may still look at what it signed:
   * the refresh grant, which trusts such a token only as far as the database confirms it.
   */
  revokedKey(kid: string): crypto.KeyObject | undefined;
  jwks(): PublishedKeySet;
  states(): Array<RingKey & { state: KeyState }>;
  start(): void;
  stop(): void;
}

export async function createKeyRing(options: KeyRingOptions): Promise<KeyRing> {
  const { repository, keysDir, clock, maxTokenLifetimeMs } = options;
  const cooldownMs = options.unknownKidCooldownMs ?? 5000;
  let keys: RingKey[] = [];
  let revoked = new Map<string, crypto.KeyObject>();
  const privateKeys = new Map<string, crypto.KeyObject>();
  let lastReload = 0;
  let published: (PublishedKeySet & { signature: string }) | undefined;
  let timer: NodeJS.Timeout | undefined;

  const stateOf = (key: SigningKeyRecord) => keyState(key, clock.now(), maxTokenLifetimeMs);

  async function reload(): Promise<void> {
    const records = await repository.list();
    const next: RingKey[] = [];
    const nextRevoked = new Map<string, crypto.KeyObject>();
    const publicKeyOf = (record: SigningKeyRecord) =>
      crypto.createPublicKey({ key: record.publicJwk as crypto.JsonWebKey, format: 'jwk' });
    for (const record of records) {
      const state = stateOf(record);
      if (state === 'revoked') {
        privateKeys.delete(record.kid); // never to sign again, even if this instance holds its file
        nextRevoked.set(record.kid, publicKeyOf(record));
        continue;
      }
      if (state === 'expired') continue;
      let privateKey = privateKeys.get(record.kid);
      if (!privateKey) {
        privateKey = await loadPrivateKey(keysDir, record.kid);
        if (privateKey) privateKeys.set(record.kid, privateKey);
      }
      next.push({ ...record, privateKey, publicKey: publicKeyOf(record) });
    }
    keys = next;
    revoked = nextRevoked;
    lastReload = clock.now();
  }

  function signingKey(): RingKey {
    let best: RingKey | undefined;
    for (const key of keys) {
      if (key.privateKey && stateOf(key) === 'active' && (!best || key.activatesAt > best.activatesAt)) best = key;
    }
    if (!best) throw new NoSigningKeyError();
    return best;
  }

  function findVerificationKey(kid: string): crypto.KeyObject | undefined {
    const key = keys.find((k) => k.kid === kid);
    return key && stateOf(key) !== 'expired' ? key.publicKey : undefined;
  }

  function jwks(): PublishedKeySet {
    const live = keys.filter((k) => stateOf(k) !== 'expired');
    const signature = live.map((k) => k.kid).join(',');
    if (published?.signature !== signature) {
      const body = JSON.stringify({ keys: live.map((k): JWK => k.publicJwk) });
      const etag = `"${crypto.createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`;
      published = { body, etag, signature };
    }
    return published;
  }

  await reload();

  return {
    reload,
    signingKey,
    async verificationKey(kid) {
      const found = findVerificationKey(kid);
      if (found || revoked.has(kid) || clock.now() - lastReload < cooldownMs) return found;
      await reload();
      return findVerificationKey(kid);
    },
    key: (kid) => keys.find((k) => k.kid === kid),
    revokedKey: (kid) => revoked.get(kid),
    jwks,
    states: () => keys.map((k) => ({ ...k, state: stateOf(k) })),
    start() {
      timer ??= setInterval(() => reload().catch((e) => options.onError?.(e)), options.refreshIntervalMs);
      timer.unref();
    },
    stop() {
      if (timer) clearInterval(timer);
      timer = undefined;
    },
  };
}
