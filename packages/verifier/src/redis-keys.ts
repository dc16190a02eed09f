/**
 * The Redis layout of authd's revocation index: the wire contract between the server, which writes
 * it, and the verifier kits, which read it (the server imports it from here). Every key carries
 * the hash tag {rv}, so in Redis Cluster they share one slot and a lookup stays one MGET; the data
 * is small and short-lived.
 *
 *   <prefix>{rv}:jti:<jti>   one revoked access token          value: revoked-at (ms)
 *   <prefix>{rv}:sid:<sid>   a revoked session (refresh family)  value: revoked-at (ms)
 *   <prefix>{rv}:user:<sub>  tokens issued to sub up to then      value: revoked-at (ms)
 *   <prefix>{rv}:kid:<kid>   a signing key revoked as compromised  value: revoked-at (ms)
 *   <prefix>{rv}:epoch       present while the index is complete; missing after a flush or restart
 */
export type RevocationKind = 'jti' | 'sid' | 'user';

/** Every kind of entry in the index: the token revocations, and revoked signing keys. */
export type IndexKind = RevocationKind | 'kid';

export const EPOCH_KEY = '{rv}:epoch';

export function revocationKey(kind: IndexKind, subject: string): string {
  return `{rv}:${kind}:${subject}`;
}

/** The entry that marks a signing key as revoked: every token it signed is refused. */
export function revokedKeyKey(kid: string): string {
  return revocationKey('kid', kid);
}

/** A user's not-before counts whole seconds, as iat does: a token from the same second is revoked too. */
export function issuedBeforeRevocation(iatSeconds: number, revokedAtMs: number): boolean {
  return iatSeconds <= Math.floor(revokedAtMs / 1000);
}

/** Reads an MGET of [jti, sid, user] values. */
export function isRevokedByValues(values: ReadonlyArray<string | null>, iat: number, hasSid: boolean): boolean {
  const [jti, sid, user] = values;
  if (jti !== null || (hasSid && sid !== null)) return true;
  return user !== null && user !== undefined && issuedBeforeRevocation(iat, Number(user));
}
