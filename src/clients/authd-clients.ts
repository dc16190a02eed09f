/**
 * authd's own APIs (/account, /admin) accept tokens whose audience is the issuer. Only authd's own
 * clients (the hosted pages, an admin tool) may have that audience, and they may carry only
 * authd's scopes: otherwise a token handed to some API could be replayed at authd.
 */

/** What /account requires; every user holds it (it only reaches their own account). */
export const ACCOUNT_SCOPE = 'authd:account';

export interface OwnApi {
  issuer: string;
  /** The scopes of authd's own APIs: the admin scope and ACCOUNT_SCOPE. */
  scopes: readonly string[];
}

export const ownApi = (issuer: string, adminScope: string): OwnApi => ({ issuer, scopes: [adminScope, ACCOUNT_SCOPE] });

/** Scopes of the client that are not authd's: none for one of authd's own clients. */
export function foreignScopes(client: { scopes: readonly string[] }, api: OwnApi): string[] {
  return client.scopes.filter((s) => !api.scopes.includes(s));
}

export function isOwnClient(client: { audience: string; scopes: readonly string[] }, api: OwnApi): boolean {
  return client.audience === api.issuer && foreignScopes(client, api).length === 0;
}

/** Scopes a user holds whatever their record lists. */
export const HELD_BY_EVERY_USER: readonly string[] = [ACCOUNT_SCOPE];

/** The scopes a user may be granted: their record's and those every user holds. */
export const scopesOfUser = (recorded: readonly string[]): string[] => [
  ...new Set([...recorded, ...HELD_BY_EVERY_USER]),
];
