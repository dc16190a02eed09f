// Benchmark peer: oidc-provider with RS256 JWT access tokens, client_credentials, refresh_token
// (rotated) and a password grant registered with registerGrantType (Argon2id at authd's
// parameters). PEER_DATABASE_URL set: Grant and RefreshToken rows (every stored model) live in
// PostgreSQL through bench/peers/oidc-postgres-adapter.mjs; unset: oidc-provider's memory adapter.
// Started by bench/run.js; never part of authd.
import crypto from 'node:crypto';
import argon2 from 'argon2';
import Provider, { errors } from 'oidc-provider';
import { postgresAdapter } from './oidc-postgres-adapter.mjs';

const port = Number(process.env.PORT);
const issuer = `http://127.0.0.1:${port}`;
const resource = 'https://api.bench.test';
const users = Number(process.env.PEER_USERS ?? 1000);
const passwordHash = process.env.PEER_PASSWORD_HASH;
const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const jwk = { ...privateKey.export({ format: 'jwk' }), use: 'sig', alg: 'RS256', kid: 'peer' };

const adapter = process.env.PEER_DATABASE_URL
  ? await postgresAdapter(process.env.PEER_DATABASE_URL, { users, passwordHash })
  : undefined;
const memoryUsers = new Map(
  Array.from({ length: users }, (_, i) => [`user${i + 1}`, { id: crypto.randomUUID(), hash: passwordHash }]),
);
const findUser = adapter ? adapter.findUser : async (username) => memoryUsers.get(username);

const provider = new Provider(issuer, {
  adapter: adapter?.Adapter,
  clients: [
    {
      client_id: 'bench-machine',
      client_secret: process.env.PEER_CLIENT_SECRET,
      grant_types: ['client_credentials'],
      redirect_uris: [],
      response_types: [],
      token_endpoint_auth_method: 'client_secret_basic',
      scope: 'read',
    },
    {
      client_id: 'bench-web',
      grant_types: ['password', 'refresh_token'],
      redirect_uris: [],
      response_types: [],
      token_endpoint_auth_method: 'none',
      scope: 'read',
    },
  ],
  scopes: ['read'],
  rotateRefreshToken: true,
  // Not the default function, so oidc-provider enables the refresh_token grant.
  issueRefreshToken: async () => true,
  ttl: { ClientCredentials: 900, AccessToken: 900, RefreshToken: 86400 * 14, Grant: 86400 * 30 },
  findAccount: async (_ctx, accountId) => ({ accountId, claims: async () => ({ sub: accountId }) }),
  features: {
    clientCredentials: { enabled: true },
    devInteractions: { enabled: false },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => resource,
      useGrantedResource: () => true,
      getResourceServerInfo: () => ({
        scope: 'read',
        audience: resource,
        accessTokenFormat: 'jwt',
        accessTokenTTL: 900,
        jwt: { sign: { alg: 'RS256' } },
      }),
    },
  },
  jwks: { keys: [jwk] },
});

const resourceServerInfo = {
  scope: 'read',
  audience: resource,
  accessTokenFormat: 'jwt',
  accessTokenTTL: 900,
  jwt: { sign: { alg: 'RS256' } },
};

// grant_type=password: verify, then a Grant, a refresh token and a JWT access token, as the
// refresh_token grant expects to find them.
provider.registerGrantType(
  'password',
  async (ctx) => {
    const { username, password } = ctx.oidc.params;
    const user = username && password ? await findUser(username) : undefined;
    if (!user || !(await argon2.verify(user.hash, password))) throw new errors.InvalidGrant('invalid credentials');
    const { client } = ctx.oidc;
    const grant = new provider.Grant({ accountId: user.id, clientId: client.clientId });
    grant.addResourceScope(resource, 'read');
    const grantId = await grant.save();
    const refreshToken = new provider.RefreshToken({
      accountId: user.id,
      client,
      grantId,
      gty: 'password',
      scope: 'read',
      resource,
    });
    const at = new provider.AccessToken({ accountId: user.id, client, grantId, gty: 'password', scope: 'read' });
    at.resourceServer = new provider.ResourceServer(resource, resourceServerInfo);
    const [accessToken, refresh] = [await at.save(), await refreshToken.save()];
    ctx.body = {
      access_token: accessToken,
      token_type: 'Bearer',
      expires_in: at.expiration,
      refresh_token: refresh,
      scope: 'read',
    };
  },
  ['username', 'password', 'scope'],
);

provider.on('server_error', (_ctx, error) => process.stderr.write(`peer error: ${error.stack}\n`));
provider.listen(port, '127.0.0.1', () => process.stdout.write(`peer listening on ${issuer}\n`));
