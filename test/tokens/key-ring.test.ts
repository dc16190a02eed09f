/**
 * The key ring on its own: which key signs (by time, newest active with its private half), which
 * keys verify and are published (retired until their last token expired; never a revoked one),
 * and the reload on an unknown kid with its cooldown. Keys live in an in-memory signing_keys table.
 */
import crypto from 'node:crypto';
import { keyState } from '../../src/tokens/key-store';
import { NoSigningKeyError } from '../../src/tokens/key-ring';
import { createTestClock } from '../support/clock';
import { createKeyTable, HOUR, LIFETIME_MS } from './ring-fixture';

const T0 = Date.UTC(2026, 11, 1, 0, 0, 0);
const published = (ring: { jwks(): { body: string } }) =>
  (JSON.parse(ring.jwks().body) as { keys: Array<{ kid: string }> }).keys.map((k) => k.kid);

describe('keyState: a function of time alone', () => {
  const record = {
    kid: 'k',
    publicJwk: {},
    createdAt: new Date(T0),
    activatesAt: new Date(T0 + HOUR),
    retiresAt: new Date(T0 + 2 * HOUR),
    revokedAt: null,
  };
  it.each([
    ['standby before activates_at', T0 + HOUR - 1, 'standby'],
    ['active from activates_at', T0 + HOUR, 'active'],
    ['retired from retires_at', T0 + 2 * HOUR, 'retired'],
    ['retired until the last token it signed expired', T0 + 2 * HOUR + LIFETIME_MS - 1, 'retired'],
    ['expired after that', T0 + 2 * HOUR + LIFETIME_MS, 'expired'],
  ])('%s', (_name, now, state) => {
    expect(keyState(record, now, LIFETIME_MS)).toBe(state);
  });

  it('revoked for good, whatever the time', () => {
    for (const now of [T0, T0 + HOUR, T0 + 10 * LIFETIME_MS])
      expect(keyState({ ...record, revokedAt: new Date(T0 + HOUR) }, now, LIFETIME_MS)).toBe('revoked');
  });

  it('active for ever without retires_at', () => {
    expect(keyState({ ...record, retiresAt: null }, T0 + 100 * LIFETIME_MS, LIFETIME_MS)).toBe('active');
  });
});

describe('the key ring', () => {
  it('signs with the newest active key whose private half it holds; a standby key waits for its time', async () => {
    const table = createKeyTable();
    const clock = createTestClock(T0);
    const old = await table.add(T0 - HOUR);
    const next = await table.add(T0 + HOUR);
    const ring = await table.ring(clock);
    expect(ring.signingKey().kid).toBe(old.kid);
    expect(published(ring).sort()).toEqual([old.kid, next.kid].sort()); // a standby key is published before it signs
    clock.set(T0 + HOUR);
    expect(ring.signingKey().kid).toBe(next.kid);
  });

  it('never signs with a key whose private file this instance lacks, and says so when none is left', async () => {
    const table = createKeyTable();
    const clock = createTestClock(T0);
    const held = await table.add(T0 - 2 * HOUR);
    await table.add(T0 - HOUR, { withPrivateKey: false });
    const ring = await table.ring(clock);
    expect(ring.signingKey().kid).toBe(held.kid);

    const empty = createKeyTable();
    await empty.add(T0 - HOUR, { withPrivateKey: false });
    const none = await empty.ring(clock);
    expect(() => none.signingKey()).toThrow(NoSigningKeyError);
  });

  it('keeps a retired key verifying and published until its last token expired, then drops it', async () => {
    const table = createKeyTable();
    const clock = createTestClock(T0);
    const retired = await table.add(T0 - 2 * HOUR, { retiresAt: T0 - HOUR });
    const current = await table.add(T0 - HOUR);
    const ring = await table.ring(clock);
    expect(ring.signingKey().kid).toBe(current.kid);
    expect((await ring.verificationKey(retired.kid))?.equals(crypto.createPublicKey(retired.privateKey))).toBe(true);
    expect(published(ring).sort()).toEqual([retired.kid, current.kid].sort());

    clock.set(T0 - HOUR + LIFETIME_MS);
    expect(await ring.verificationKey(retired.kid)).toBeUndefined();
    expect(published(ring)).toEqual([current.kid]);
  });

  it("never signs, verifies or publishes a revoked key, but keeps its public half for the refresh grant's confirmation", async () => {
    const table = createKeyTable();
    const clock = createTestClock(T0);
    const compromised = await table.add(T0 - 2 * HOUR);
    const other = await table.add(T0 - 3 * HOUR);
    const ring = await table.ring(clock);
    expect(ring.signingKey().kid).toBe(compromised.kid);

    compromised.record.revokedAt = new Date(T0);
    await ring.reload();
    expect(ring.signingKey().kid).toBe(other.kid);
    expect(await ring.verificationKey(compromised.kid)).toBeUndefined();
    expect(ring.key(compromised.kid)).toBeUndefined();
    expect(published(ring)).toEqual([other.kid]);
    expect(ring.revokedKey(compromised.kid)?.export({ format: 'jwk' }).n).toBe(compromised.publicJwk.n);
    expect(ring.revokedKey(other.kid)).toBeUndefined();
  });

  it('reloads on an unknown kid at most once per cooldown, finding a key added elsewhere; never for a revoked kid', async () => {
    const table = createKeyTable();
    const clock = createTestClock(T0);
    await table.add(T0 - 2 * HOUR);
    const revoked = await table.add(T0 - 3 * HOUR, { revokedAt: T0 - HOUR });
    const ring = await table.ring(clock, 5000);
    const added = await table.add(T0 - HOUR); // by another instance, after this ring loaded
    const loads = table.counts.selects;

    clock.advance(4999);
    expect(await ring.verificationKey(added.kid)).toBeUndefined(); // inside the cooldown: no reload
    expect(table.counts.selects).toBe(loads);
    clock.advance(1);
    expect((await ring.verificationKey(added.kid))?.equals(crypto.createPublicKey(added.privateKey))).toBe(true); // one reload finds it
    expect(table.counts.selects).toBe(loads + 1);
    expect(await ring.verificationKey('A'.repeat(43))).toBeUndefined(); // just reloaded: no second one
    expect(table.counts.selects).toBe(loads + 1);
    clock.advance(5000);
    expect(await ring.verificationKey(revoked.kid)).toBeUndefined(); // known to be revoked: nothing to look for
    expect(table.counts.selects).toBe(loads + 1);
  });

  it('publishes one body per key set, with an ETag that changes only with the set', async () => {
    const table = createKeyTable();
    const clock = createTestClock(T0);
    await table.add(T0 - HOUR);
    const ring = await table.ring(clock);
    const first = ring.jwks();
    expect(ring.jwks()).toBe(first);
    await table.add(T0 + HOUR);
    await ring.reload();
    const second = ring.jwks();
    expect(second.etag).not.toBe(first.etag);
    expect(second.etag).toMatch(/^"[A-Za-z0-9_-]{27}"$/);
    expect(JSON.parse(second.body).keys.every((k: { d?: string }) => k.d === undefined)).toBe(true);
  });
});
