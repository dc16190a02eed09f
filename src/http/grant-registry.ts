import { clientCredentialsGrant } from '../oauth/grants/client-credentials';
import type { GrantHandler } from '../oauth/grants/grant';
import { mfaOtpGrant } from '../oauth/grants/mfa-otp';
import { passwordGrant } from '../oauth/grants/password';
import { refreshTokenGrant } from '../oauth/grants/refresh-token';

// biome-ignore lint/suspicious/noExplicitAny: each grant has its own parameter type
type AnyGrant = GrantHandler<any>;

/** The grants the token endpoint serves; discovery lists the same ones. */
export interface GrantRegistry {
  /** In the order the metadata lists them. */
  readonly grantTypes: readonly string[];
  find(grantType: string): AnyGrant | undefined;
}

export function createGrantRegistry(
  handlers: readonly AnyGrant[] = [passwordGrant, refreshTokenGrant, clientCredentialsGrant, mfaOtpGrant],
): GrantRegistry {
  const byType = new Map(handlers.map((g) => [g.grantType, g]));
  return { grantTypes: handlers.map((g) => g.grantType), find: (grantType) => byType.get(grantType) };
}
