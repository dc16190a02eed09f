import type { z } from 'zod';
import type { AuditLog, RequestContext } from '../../audit/audit-log';
import type { Client } from '../../clients/client-store';

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

/** What every grant that writes an audit event needs of the audit log. */
export type GrantAudit = Pick<AuditLog, 'record'>;

/**
 * A grant type: its parameters and its use case. `Deps` names only what this grant uses (each
 * grant declares its own interface, fosite-style); the registry binds them once with bindGrant.
 */
export interface GrantHandler<
  Params extends Record<string, string | undefined> = Record<string, string | undefined>,
  Deps = unknown,
> {
  readonly grantType: string;
  /** The parameters this grant reads besides grant_type and client authentication, validated. */
  readonly schema: z.ZodType<Params>;
  handle(request: GrantRequest & { params: Params }, deps: Deps): Promise<TokenResponse>;
}

/** A grant with its dependencies bound: what the token endpoint calls, with the request alone. */
export interface BoundGrant<Params extends Record<string, string | undefined> = Record<string, string | undefined>> {
  readonly grantType: string;
  readonly schema: z.ZodType<Params>;
  handle(request: GrantRequest & { params: Params }): Promise<TokenResponse>;
}

export function bindGrant<Params extends Record<string, string | undefined>, Deps>(
  handler: GrantHandler<Params, Deps>,
  deps: Deps,
): BoundGrant<Params> {
  return {
    grantType: handler.grantType,
    schema: handler.schema,
    handle: (request) => handler.handle(request, deps),
  };
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
