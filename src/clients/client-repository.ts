import type { Queryable } from '../store/database';
import type { ClientSettings, ClientStore, ClientWithDigest, GrantType, NewClient } from './client-store';

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
  cookie_mode: boolean;
  allowed_origins: string[];
  redirect_uris: string[];
  user_claims: string[];
  metadata_claims: string[];
  require_mfa: boolean;
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
    cookieMode: row.cookie_mode,
    allowedOrigins: row.allowed_origins,
    redirectUris: row.redirect_uris,
    userClaims: row.user_claims,
    metadataClaims: row.metadata_claims,
    requireMfa: row.require_mfa,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

const COLUMNS: Array<[keyof ClientSettings, string]> = [
  ['name', 'name'],
  ['firstParty', 'first_party'],
  ['canIntrospect', 'can_introspect'],
  ['grantTypes', 'grant_types'],
  ['scopes', 'scopes'],
  ['defaultScopes', 'default_scopes'],
  ['audience', 'audience'],
  ['accessTokenTtl', 'access_token_ttl'],
  ['refreshIdleTtl', 'refresh_idle_ttl'],
  ['refreshAbsoluteTtl', 'refresh_absolute_ttl'],
  ['cookieMode', 'cookie_mode'],
  ['allowedOrigins', 'allowed_origins'],
  ['redirectUris', 'redirect_uris'],
  ['userClaims', 'user_claims'],
  ['metadataClaims', 'metadata_claims'],
  ['requireMfa', 'require_mfa'],
];

export function createClientRepository(db: Queryable): ClientStore {
  return {
    async findById(id: string): Promise<ClientWithDigest | undefined> {
      const [row] = await db.query<ClientRow>('SELECT * FROM clients WHERE id = $1', [id]);
      return row && toClient(row);
    },

    async insert(client: NewClient): Promise<ClientWithDigest | undefined> {
      const columns = ['id', 'secret_digest', ...COLUMNS.map(([, column]) => column), 'created_at', 'updated_at'];
      const values = [client.id, client.secretDigest, ...COLUMNS.map(([key]) => client[key]), client.now, client.now];
      const [row] = await db.query<ClientRow>(
        `INSERT INTO clients (${columns.join(', ')}) VALUES (${columns.map((_, i) => `$${i + 1}`).join(', ')})
         ON CONFLICT (id) DO NOTHING RETURNING *`,
        values,
      );
      return row && toClient(row);
    },

    /** Replaces every setting at once (the service has merged and validated them). */
    async update(id: string, settings: ClientSettings, now: Date): Promise<ClientWithDigest | undefined> {
      const [row] = await db.query<ClientRow>(
        `UPDATE clients SET ${COLUMNS.map(([, column], i) => `${column} = $${i + 2}`).join(', ')}, updated_at = $${COLUMNS.length + 2}
         WHERE id = $1 RETURNING *`,
        [id, ...COLUMNS.map(([key]) => settings[key]), now],
      );
      return row && toClient(row);
    },

    async replaceSecretDigest(id: string, digest: string, now: Date): Promise<boolean> {
      const rows = await db.query(
        'UPDATE clients SET secret_digest = $2, updated_at = $3 WHERE id = $1 AND secret_digest IS NOT NULL RETURNING id',
        [id, digest, now],
      );
      return rows.length === 1;
    },

    async delete(id: string): Promise<boolean> {
      return (await db.query('DELETE FROM clients WHERE id = $1 RETURNING id', [id])).length === 1;
    },

    /** Every scope some client may request, sorted. */
    async listScopes(): Promise<string[]> {
      return (await db.query<{ scope: string }>('SELECT DISTINCT unnest(scopes) AS scope FROM clients ORDER BY 1')).map(
        (r) => r.scope,
      );
    },

    async list(): Promise<ClientWithDigest[]> {
      return (await db.query<ClientRow>('SELECT * FROM clients ORDER BY id')).map(toClient);
    },
  };
}
