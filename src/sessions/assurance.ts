/**
 * What a sign-in proved, as access tokens carry it: RFC 8176 `amr`, an `acr` named after the
 * NIST SP 800-63B assurance levels, and `auth_time` (seconds) of the interactive sign-in.
 * A session keeps the assurance of the login that started it; a refresh never raises it.
 */
export type Acr = 'aal1' | 'aal2';

export interface Assurance {
  amr: string[];
  acr: Acr;
  /** Seconds since the epoch. */
  authTime: number;
}

/** The second factor of the sign-in, if any: an authenticator code, or a recovery code (no RFC 8176 value of its own). */
export type SecondFactorKind = 'otp' | 'recovery_code';

export function assuranceOf(secondFactor: SecondFactorKind | undefined, authTimeMs: number): Assurance {
  const authTime = Math.floor(authTimeMs / 1000);
  if (secondFactor === undefined) return { amr: ['pwd'], acr: 'aal1', authTime };
  return { amr: secondFactor === 'otp' ? ['pwd', 'otp', 'mfa'] : ['pwd', 'mfa'], acr: 'aal2', authTime };
}

/** The claims of an access token. */
export function assuranceClaims(a: Assurance): { amr: string[]; acr: Acr; auth_time: number } {
  return { amr: a.amr, acr: a.acr, auth_time: a.authTime };
}
