import { insufficientUserAuthentication, type BearerError } from './errors';

/** authd's acr once a second factor was used (NIST SP 800-63B AAL2); password only is "aal1". */
export const MFA_ACR = 'aal2';

export interface AcrOptions {
  /** The most seconds since the user last authenticated interactively (the token's auth_time). */
  maxAge?: number;
  /** The current time in ms (default: requireAuth's clock). */
  now?: () => number;
}

/**
 * RFC 9470 §3: undefined when the token's authentication is good enough for the resource, else the
 * step-up refusal naming what would be (acr_values, and max_age when one is set). A token without
 * acr (client_credentials) or, with maxAge, without auth_time never is.
 */
export function checkAssurance(
  auth: { acr: string | undefined; authTime: number | undefined },
  values: readonly string[],
  options: { maxAge?: number },
  nowMs: number,
): BearerError | undefined {
  const challenge = { acrValues: values, ...(options.maxAge !== undefined && { maxAge: options.maxAge }) };
  if (auth.acr === undefined || !values.includes(auth.acr))
    return insufficientUserAuthentication('insufficient_acr', challenge);
  if (options.maxAge !== undefined && (auth.authTime === undefined || nowMs / 1000 - auth.authTime > options.maxAge)) {
    return insufficientUserAuthentication('stale_authentication', challenge);
  }
  return undefined;
}
