import { createIndexTrust } from '../../src/revocation/index-trust';
import { createTestClock } from '../support/clock';

describe('the revocation index trust', () => {
  it('is distrusted until a re-seed completes', () => {
    const trust = createIndexTrust(createTestClock());
    expect(trust.trusted()).toBe(false);
    const attempt = trust.reseedStarted();
    expect(trust.trusted()).toBe(false);
    attempt.completed();
    expect(trust.trusted()).toBe(true);
  });

  it('a lost connection, a failed lookup or a missing epoch distrusts it until the next complete re-seed', () => {
    const trust = createIndexTrust(createTestClock());
    trust.reseedStarted().completed();
    trust.distrust();
    expect(trust.trusted()).toBe(false);
    trust.reseedStarted().completed();
    expect(trust.trusted()).toBe(true);
  });

  it('a write that fails during a re-seed keeps it distrusted after that re-seed completes', () => {
    const trust = createIndexTrust(createTestClock());
    const attempt = trust.reseedStarted();
    trust.writeFailed();
    attempt.completed();
    expect(trust.trusted()).toBe(false);
    // The next re-seed starts after the failure: what it copies includes the failed write.
    trust.reseedStarted().completed();
    expect(trust.trusted()).toBe(true);
  });

  it('a write that fails while trusted distrusts it at once', () => {
    const trust = createIndexTrust(createTestClock());
    trust.reseedStarted().completed();
    trust.writeFailed();
    expect(trust.trusted()).toBe(false);
  });

  it('paces attempts: one per interval, measured on its clock', () => {
    const clock = createTestClock();
    const trust = createIndexTrust(clock, 1000);
    expect(trust.mayRetry()).toBe(true); // never tried
    trust.reseedStarted();
    expect(trust.mayRetry()).toBe(false);
    clock.advance(999);
    expect(trust.mayRetry()).toBe(false);
    clock.advance(1);
    expect(trust.mayRetry()).toBe(true);
    trust.reseedStarted();
    expect(trust.mayRetry()).toBe(false);
  });

  it('pacing is about attempts, not outcomes: a completed re-seed still counts as the last attempt', () => {
    const clock = createTestClock();
    const trust = createIndexTrust(clock, 1000);
    trust.reseedStarted().completed();
    trust.distrust();
    expect(trust.mayRetry()).toBe(false);
    clock.advance(1000);
    expect(trust.mayRetry()).toBe(true);
  });

  it('after a reconnection, only a copy that starts once the connection has settled trusts it again', () => {
    const clock = createTestClock();
    const trust = createIndexTrust(clock, 1000, 5000);
    trust.reseedStarted().completed();
    expect(trust.trusted()).toBe(true);

    trust.reconnected();
    expect(trust.trusted()).toBe(false);
    clock.advance(4999);
    // Another instance may still write revocations to the database only: this copy may lack them.
    const early = trust.reseedStarted();
    clock.advance(1);
    early.completed();
    expect(trust.trusted()).toBe(false);

    trust.reseedStarted().completed();
    expect(trust.trusted()).toBe(true);
  });

  it('attempts no re-seed before the connection has settled', () => {
    const clock = createTestClock();
    const trust = createIndexTrust(clock, 1000, 5000);
    trust.reconnected();
    clock.advance(4999);
    expect(trust.mayRetry()).toBe(false);
    clock.advance(1);
    expect(trust.mayRetry()).toBe(true);
  });
});
