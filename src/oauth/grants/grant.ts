import type { z } from 'zod';
import type { LoginThrottle } from '../../abuse/login-throttle';
import type { AuditLog, RequestContext } from '../../audit/audit-log';
import type { Clock } from '../../clock';
import type { Client } from '../../clients/client-repository';
import type { MfaService } from '../../mfa/mfa-service';
import type { SessionRepository } from '../../sessions/session-repository';
import type { SessionRevoker } from '../../sessions/session-revoker';
import type { TokenIssuer } from '../../tokens/token-issuer';
import type { UserService } from '../../users/user-service';

export interface TokenResponse {
  access_token: string;
  token_type: 'Bearer';
  expires_in: number;
  refresh_token?: string;
  scope: string;
}

/** The authenticated client as a grant sees it: never its secret digest (the type refuses one). */
export type GrantClient = Client & { readonly secretDigest?: never };

export interface GrantRequest {
  params: Readonly<Record<string, string>>;
  client: GrantClient;
  context: RequestContext;
  /** The request carries a device cookie that vouches for the username (password grant). */
  trustedDevice?: boolean;
  /** The device cookie, for a grant that learns the user only as it runs (the MFA step). */
  device?: DeviceCookie;
}

export interface DeviceCookie {
  /** Whether the request's device cookie vouches for this normalised username. */
  vouchesFor(normalizedUsername: string): boolean;
  /** A sign-in completed: the browser is a known device of this user from now on (cookie-mode clients). */
  signedIn(normalizedUsername: string): void;
}

/** The server-wide token lifetimes, in seconds. */
export interface Lifetimes {
  accessTokenTtl: number;
  refreshIdleTtl: number;
  refreshAbsoluteTtl: number;
  refreshReuseGrace: number;
}

export interface GrantDeps {
  users: UserService;
  sessions: SessionRepository;
  tokens: TokenIssuer;
  revoker: SessionRevoker;
  clock: Clock;
  lifetimes: Lifetimes;
  throttle: LoginThrottle;
  audit: AuditLog;
  /** AUTHD_REQUIRE_VERIFIED_EMAIL: password logins need a verified address. */
  requireVerifiedEmail?: boolean;
  mfa: MfaService;
}

export interface GrantHandler<Params extends Record<string, string | undefined> = Record<string, string | undefined>> {
  readonly grantType: string;
  /** The parameters this grant reads besides grant_type and client authentication, validated. */
  readonly schema: z.ZodType<Params>;
  handle(request: GrantRequest & { params: Params }, deps: GrantDeps): Promise<TokenResponse>;
}

/** A client's lifetime overrides may only shorten the server's. */
export function lifetimesFor(client: GrantClient, lifetimes: Lifetimes): Lifetimes {
  return {
    accessTokenTtl: client.accessTokenTtl ?? lifetimes.accessTokenTtl,
    refreshIdleTtl: client.refreshIdleTtl ?? lifetimes.refreshIdleTtl,
    refreshAbsoluteTtl: client.refreshAbsoluteTtl ?? lifetimes.refreshAbsoluteTtl,
    refreshReuseGrace: lifetimes.refreshReuseGrace,
  };
}
