// The benchmark peer: oidc-provider configured for client_credentials with RS256 JWT access
// tokens and its JWKS, the part of authd's job it can do. Started by bench/run.js.
import crypto from 'node:crypto';
import Provider from 'oidc-provider';

const port = Number(process.env.PORT);
const issuer = `http://127.0.0.1:${port}`;
const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const jwk = { ...privateKey.export({ format: 'jwk' }), use: 'sig', alg: 'RS256', kid: 'peer' };

const provider = new Provider(issuer, {
  clients: [{
    client_id: 'bench-machine',
    client_secret: process.env.PEER_CLIENT_SECRET,
    grant_types: ['client_credentials'],
    redirect_uris: [],
    response_types: [],
    token_endpoint_auth_method: 'client_secret_basic',
    scope: 'read',
  }],
  scopes: ['read'],
  features: {
    clientCredentials: { enabled: true },
    devInteractions: { enabled: false },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => 'https://api.bench',
      useGrantedResource: () => true,
      getResourceServerInfo: () => ({ scope: 'read', audience: 'https://api.bench', accessTokenFormat: 'jwt', accessTokenTTL: 900, jwt: { sign: { alg: 'RS256' } } }),
    },
  },
  jwks: { keys: [jwk] },
});
provider.on('server_error', (_ctx, error) => process.stderr.write(`peer error: ${error.message}\n`));
provider.listen(port, '127.0.0.1', () => process.stdout.write(`peer listening on ${issuer}\n`));
