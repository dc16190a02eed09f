import { clientCredentialsGrant } from '../oauth/grants/client-credentials';
import { bindGrant, type BoundGrant, type Lifetimes } from '../oauth/grants/grant';
import { mfaOtpGrant } from '../oauth/grants/mfa-otp';
import { passwordGrant } from '../oauth/grants/password';
import { refreshTokenGrant } from '../oauth/grants/refresh-token';
import type { Services } from '../services';

// biome-ignore lint/suspicious/noExplicitAny: each grant has its own parameter type
type AnyGrant = BoundGrant<any>;

/** The grants the token endpoint serves; discovery lists the same ones. */
export interface GrantRegistry {
  /** In the order the metadata lists them. */
  readonly grantTypes: readonly string[];
  find(grantType: string): AnyGrant | undefined;
}

export function createGrantRegistry(grants: readonly AnyGrant[]): GrantRegistry {
  const byType = new Map(grants.map((g) => [g.grantType, g]));
  return { grantTypes: grants.map((g) => g.grantType), find: (grantType) => byType.get(grantType) };
}

/** The services the grants are built from. */
export type GrantServices = Pick<
  Services,
  'users' | 'sessions' | 'tokens' | 'revoker' | 'clock' | 'throttle' | 'audit' | 'mfa'
> & { lifetimes: Lifetimes; requireVerifiedEmail: boolean };

/** authd's grants, each bound once to the part of the services it declares. */
export function authdGrants(services: GrantServices): AnyGrant[] {
  const { users, sessions, tokens, revoker, clock, throttle, audit, mfa, lifetimes } = services;
  const signIn = { tokens, sessions, clock, lifetimes, audit, throttle };
  return [
    bindGrant(passwordGrant, { ...signIn, users, mfa, requireVerifiedEmail: services.requireVerifiedEmail }),
    bindGrant(refreshTokenGrant, { tokens, sessions, revoker, users, clock, lifetimes, audit }),
    bindGrant(clientCredentialsGrant, { tokens, lifetimes, audit }),
    bindGrant(mfaOtpGrant, { ...signIn, users, mfa }),
  ];
}
