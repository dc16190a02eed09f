import type { Clock } from '../../clock';
import type { ClientWithDigest } from '../../clients/client-repository';
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

export interface GrantRequest {
  params: Readonly<Record<string, string>>;
  client: ClientWithDigest;
  ip: string | null;
  userAgent: string | null;
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
  /** Records why a grant was refused or what it did, for the log. */
  log: (event: string, fields: Record<string, unknown>) => void;
}

export interface GrantHandler {
  readonly grantType: string;
  /** Parameters this grant reads besides grant_type and client authentication. */
  readonly parameters: ReadonlySet<string>;
  handle(request: GrantRequest, deps: GrantDeps): Promise<TokenResponse>;
}

/** A client's lifetime overrides may only shorten the server's. */
export function lifetimesFor(client: ClientWithDigest, lifetimes: Lifetimes): Lifetimes {
  return {
    accessTokenTtl: client.accessTokenTtl ?? lifetimes.accessTokenTtl,
    refreshIdleTtl: client.refreshIdleTtl ?? lifetimes.refreshIdleTtl,
    refreshAbsoluteTtl: client.refreshAbsoluteTtl ?? lifetimes.refreshAbsoluteTtl,
    refreshReuseGrace: lifetimes.refreshReuseGrace,
  };
}
