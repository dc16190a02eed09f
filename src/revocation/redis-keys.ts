/**
 * The Redis layout of the revocation index, shared with the verifier kit (which reads it without
 * any server code). Every key carries the hash tag {rv}, so in Redis Cluster they share one slot
 * and a lookup stays one MGET; the data is small and short-lived.
 *
 *   <prefix>{rv}:jti:<jti>   one revoked access token          value: revoked-at (ms)
 *   <prefix>{rv}:sid:<sid>   a revoked session (refresh family)  value: revoked-at (ms)
 *   <prefix>{rv}:user:<sub>  tokens issued to sub up to then      value: revoked-at (ms)
 *   <prefix>{rv}:epoch       present while the index is complete; missing after a flush or restart
 */
export type RevocationKind = 'jti' | 'sid' | 'user';

export const EPOCH_KEY = '{rv}:epoch';

export function revocationKey(kind: RevocationKind, subject: string): string {
  return `{rv}:${kind}:${subject}`;
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
