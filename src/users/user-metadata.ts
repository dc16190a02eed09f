import { DomainError } from '../errors';

/** Serialised, in UTF-8 bytes: small enough that every key can travel in an access token. */
const METADATA_MAX_BYTES = 1024;
export const METADATA_KEY = /^[A-Za-z_][A-Za-z0-9_.-]{0,63}$/;

export type UserMetadata = Record<string, unknown>;

/** A plain JSON object of at most METADATA_MAX_BYTES, keys shaped like claim names. */
export function checkMetadata(value: unknown): UserMetadata {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new DomainError('invalid', 'Metadata must be a JSON object.', 'invalid_metadata');
  const bad = Object.keys(value).find((key) => !METADATA_KEY.test(key));
  if (bad !== undefined)
    throw new DomainError(
      'invalid',
      `Invalid metadata key "${bad.slice(0, 70)}": use letters, digits, _ . - (at most 64, not starting with a digit).`,
    );
  const size = Buffer.byteLength(JSON.stringify(value));
  if (size > METADATA_MAX_BYTES)
    throw new DomainError(
      'invalid',
      `Metadata must be at most ${METADATA_MAX_BYTES} bytes as JSON (this is ${size}).`,
      'invalid_metadata',
    );
  return value as UserMetadata;
}
