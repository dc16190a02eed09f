import type { Queryable } from '../store/database';

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
  createdAt: Date;
  updatedAt: Date;
}

export interface ClientWithDigest extends Client {
  secretDigest: string | null;
}

interface ClientRow {
  id: string;
  name: string;
  secret_digest: string | null;
  first_party: boolean;
  can_introspect: boolean;
  grant_types: GrantType[];
  scopes: string[];
  default_scopes: string[];
  audience: string;
  access_token_ttl: number | null;
  refresh_idle_ttl: number | null;
  refresh_absolute_ttl: number | null;
  created_at: Date;
  updated_at: Date;
}

function toClient(row: ClientRow): ClientWithDigest {
  return {
    id: row.id,
    name: row.name,
    secretDigest: row.secret_digest,
    confidential: row.secret_digest !== null,
    firstParty: row.first_party,
    canIntrospect: row.can_introspect,
    grantTypes: row.grant_types,
    scopes: row.scopes,
    defaultScopes: row.default_scopes,
    audience: row.audience,
    accessTokenTtl: row.access_token_ttl,
    refreshIdleTtl: row.refresh_idle_ttl,
    refreshAbsoluteTtl: row.refresh_absolute_ttl,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

export function publicClient({ secretDigest: _digest, ...client }: ClientWithDigest): Client {
  return client;
}

export type NewClient = Omit<ClientWithDigest, 'confidential' | 'createdAt' | 'updatedAt'> & { now: Date };

export function createClientRepository(db: Queryable) {
  return {
    async findById(id: string): Promise<ClientWithDigest | undefined> {
      const [row] = await db.query<ClientRow>('SELECT * FROM clients WHERE id = $1', [id]);
      return row && toClient(row);
    },

    async insert(client: NewClient): Promise<ClientWithDigest | undefined> {
      const [row] = await db.query<ClientRow>(
        `INSERT INTO clients (id, name, secret_digest, first_party, can_introspect, grant_types, scopes, default_scopes, audience,
                              access_token_ttl, refresh_idle_ttl, refresh_absolute_ttl, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13)
         ON CONFLICT (id) DO NOTHING RETURNING *`,
        [client.id, client.name, client.secretDigest, client.firstParty, client.canIntrospect, client.grantTypes, client.scopes,
          client.defaultScopes, client.audience, client.accessTokenTtl, client.refreshIdleTtl, client.refreshAbsoluteTtl, client.now],
      );
      return row && toClient(row);
    },

    async list(): Promise<ClientWithDigest[]> {
      return (await db.query<ClientRow>('SELECT * FROM clients ORDER BY id')).map(toClient);
    },
  };
}

export type ClientRepository = ReturnType<typeof createClientRepository>;
