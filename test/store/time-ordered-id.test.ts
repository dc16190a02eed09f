import { timeOrderedUuid } from '../../src/store/time-ordered-id';

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('timeOrderedUuid', () => {
  it('is an RFC 9562 version 7 UUID whose first 48 bits are the given milliseconds', () => {
    const ms = Date.UTC(2026, 11, 2, 11, 30, 0, 123);
    const id = timeOrderedUuid(ms);
    expect(id).toMatch(UUID_V7);
    expect(Number.parseInt(id.replace(/-/g, '').slice(0, 12), 16)).toBe(ms);
  });

  it('sorts by creation time, so new keys append to the end of a B-tree', () => {
    const ids = [0, 1, 255, 256, 65_536, 1_700_000_000_000, 1_700_000_000_001].map((ms) => timeOrderedUuid(ms));
    expect([...ids].sort()).toEqual(ids);
  });

  it('keeps its random bits random within one millisecond', () => {
    const ids = new Set(Array.from({ length: 1000 }, () => timeOrderedUuid(1_700_000_000_000)));
    expect(ids.size).toBe(1000);
  });
});
