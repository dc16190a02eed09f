export const GRANT_TYPES = ['password', 'refresh_token', 'client_credentials'] as const;
export type GrantType = (typeof GRANT_TYPES)[number];

export interface Client {
  id: string;
  name: string;
  /** Confidential clients have a secret; public clients (SPAs, mobile, CLI) do not. */
  confidential: boolean;
  firstParty: boolean;
  /** A resource server allowed to call the introspection endpoint. */
  canIntrospect: boolean;
  grantTypes: GrantType[];
  scopes: string[];
  defaultScopes: string[];
  audience: string;
  accessTokenTtl: number | null;
  refreshIdleTtl: number | null;
  refreshAbsoluteTtl: number | null;
  /** The refresh token travels in an httpOnly cookie instead of the response body. */
  cookieMode: boolean;
  /** Origins allowed to call the token endpoint for this client from a browser (CSRF defence in cookie mode). */
  allowedOrigins: string[];
  redirectUris: string[];
  /** preferred_username, email, email_verified: in its access tokens when the scope asks for them. */
  userClaims: string[];
  /** Keys of the user's metadata copied into its access tokens as top-level claims. */
  metadataClaims: string[];
  /** Only users with a second factor get tokens (the password grant asks for it; others are refused). */
  requireMfa: boolean;
  createdAt: Date;
  updatedAt: Date;
}

export interface ClientWithDigest extends Client {
  secretDigest: string | null;
}

export function publicClient({ secretDigest: _digest, ...client }: ClientWithDigest): Client {
  return client;
}

/** The settings an operator chooses (everything but identity, secret and timestamps). */
export type ClientSettings = Omit<Client, 'id' | 'confidential' | 'createdAt' | 'updatedAt'>;

export type NewClient = ClientSettings & { id: string; secretDigest: string | null; now: Date };

/**
 * The client records. Every backend keeps: ids are unique (an insert of a taken id returns
 * undefined, decided by the insert itself); every write is one statement; a missing client is
 * undefined (or false), never an error; only the backend failing throws.
 */
export interface ClientStore {
  /** With its secret digest, for client authentication; undefined for an unknown id. */
  findById(id: string): Promise<ClientWithDigest | undefined>;
  /** Undefined when the id is taken (two creations racing: exactly one wins). */
  insert(client: NewClient): Promise<ClientWithDigest | undefined>;
  /** Replaces every setting at once (the service has merged and validated them); undefined for an unknown id. */
  update(id: string, settings: ClientSettings, now: Date): Promise<ClientWithDigest | undefined>;
  /** A new secret digest for a confidential client; false for an unknown or a public client (which stays public). */
  replaceSecretDigest(id: string, digest: string, now: Date): Promise<boolean>;
  /** False when there was no such client. */
  delete(id: string): Promise<boolean>;
  /** Every scope some client may request, sorted, each once (the metadata's scopes_supported). */
  listScopes(): Promise<string[]>;
  /** In id order. */
  list(): Promise<ClientWithDigest[]>;
}
