import crypto from 'node:crypto';

/**
 * A UUIDv7 (RFC 9562 §5.7): 48 bits of Unix milliseconds, then 74 random bits.
 *
 * Used for keys written on every login and refresh (sessions, refresh tokens). Random v4 keys land
 * on random pages of the primary-key B-tree, so once the index outgrows shared buffers every insert
 * reads a cold page; time-ordered keys append to the rightmost page. These ids are never secrets
 * (the tokens that carry them are signed), and the time they reveal is already in the token's iat.
 */
export function timeOrderedUuid(now: number = Date.now()): string {
  const bytes = crypto.randomBytes(16);
  bytes.writeUIntBE(Math.trunc(now), 0, 6);
  bytes[6] = (bytes[6] & 0x0f) | 0x70;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
