'use strict';
// Benchmark peer: @node-oauth/oauth2-server behind express, with a small model on PostgreSQL
// tables (clients, users, tokens): password, refresh_token (a new refresh token per use, the
// library's default) and client_credentials; Argon2id at authd's parameters; opaque tokens as
// the library makes them. JWKS and metadata are the constant JSON documents an app in front of
// it would serve. Started by bench/run.js; never part of authd.
const crypto = require('node:crypto');
const argon2 = require('argon2');
const express = require('express');
const OAuth2Server = require('@node-oauth/oauth2-server');
const { Pool } = require('pg');

const port = Number(process.env.PORT);
const issuer = `http://127.0.0.1:${port}`;
const pool = new Pool({ connectionString: process.env.PEER_DATABASE_URL, max: 16 });
const sha256 = (value) => crypto.createHash('sha256').update(value).digest('hex');

const SCHEMA = `
CREATE TABLE IF NOT EXISTS peer_clients (id text PRIMARY KEY, secret_sha256 text, grants text[] NOT NULL);
CREATE TABLE IF NOT EXISTS peer_users (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), username text UNIQUE NOT NULL, password_hash text NOT NULL);
CREATE TABLE IF NOT EXISTS peer_tokens (
  access_token text PRIMARY KEY, access_token_expires_at timestamptz NOT NULL,
  refresh_token text UNIQUE, refresh_token_expires_at timestamptz,
  scope text, client_id text NOT NULL, user_id text NOT NULL);`;

const toClient = (row) =>
  row && { id: row.id, grants: row.grants, accessTokenLifetime: 900, refreshTokenLifetime: 86400 * 14 };

const model = {
  async getClient(clientId, clientSecret) {
    const {
      rows: [row],
    } = await pool.query('SELECT id, secret_sha256, grants FROM peer_clients WHERE id = $1', [clientId]);
    if (!row) return false;
    if (row.secret_sha256) {
      const given = Buffer.from(sha256(clientSecret ?? ''));
      if (!crypto.timingSafeEqual(given, Buffer.from(row.secret_sha256))) return false;
    }
    return toClient(row);
  },
  async getUser(username, password) {
    const {
      rows: [row],
    } = await pool.query('SELECT id, password_hash FROM peer_users WHERE username = $1', [username]);
    return row && (await argon2.verify(row.password_hash, password)) ? { id: row.id } : false;
  },
  async getUserFromClient(client) {
    return { id: client.id };
  },
  async saveToken(token, client, user) {
    await pool.query('INSERT INTO peer_tokens VALUES ($1, $2, $3, $4, $5, $6, $7)', [
      token.accessToken,
      token.accessTokenExpiresAt,
      token.refreshToken ?? null,
      token.refreshTokenExpiresAt ?? null,
      Array.isArray(token.scope) ? token.scope.join(' ') : (token.scope ?? null),
      client.id,
      user.id,
    ]);
    return { ...token, client, user };
  },
  async getAccessToken(accessToken) {
    const {
      rows: [row],
    } = await pool.query('SELECT * FROM peer_tokens WHERE access_token = $1', [accessToken]);
    return (
      row && {
        accessToken,
        accessTokenExpiresAt: row.access_token_expires_at,
        scope: row.scope?.split(' '),
        client: { id: row.client_id },
        user: { id: row.user_id },
      }
    );
  },
  async getRefreshToken(refreshToken) {
    const {
      rows: [row],
    } = await pool.query(
      'SELECT t.*, c.grants FROM peer_tokens t JOIN peer_clients c ON c.id = t.client_id WHERE t.refresh_token = $1',
      [refreshToken],
    );
    return (
      row && {
        refreshToken,
        refreshTokenExpiresAt: row.refresh_token_expires_at,
        scope: row.scope?.split(' '),
        client: toClient({ id: row.client_id, grants: row.grants }),
        user: { id: row.user_id },
      }
    );
  },
  async revokeToken(token) {
    const { rowCount } = await pool.query('DELETE FROM peer_tokens WHERE refresh_token = $1', [token.refreshToken]);
    return rowCount > 0;
  },
  async validateScope(_user, _client, scope) {
    return scope?.length ? scope.filter((s) => s === 'read') : ['read'];
  },
};

async function main() {
  await pool.query(SCHEMA);
  await pool.query(
    "INSERT INTO peer_clients VALUES ('bench-machine', $1, '{client_credentials}'), ('bench-web', NULL, '{password,refresh_token}') ON CONFLICT DO NOTHING",
    [sha256(process.env.PEER_CLIENT_SECRET)],
  );
  await pool.query(
    "INSERT INTO peer_users (username, password_hash) SELECT 'user' || g, $2 FROM generate_series(1, $1) g ON CONFLICT DO NOTHING",
    [Number(process.env.PEER_USERS ?? 1000), process.env.PEER_PASSWORD_HASH],
  );

  const oauth = new OAuth2Server({ model, requireClientAuthentication: { password: false, refresh_token: false } });
  const { publicKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwks = { keys: [{ ...publicKey.export({ format: 'jwk' }), use: 'sig', alg: 'RS256', kid: 'peer' }] };
  const metadata = {
    issuer,
    token_endpoint: `${issuer}/oauth/token`,
    jwks_uri: `${issuer}/.well-known/jwks.json`,
    grant_types_supported: ['password', 'refresh_token', 'client_credentials'],
  };

  const app = express();
  app.disable('x-powered-by');
  app.get('/.well-known/jwks.json', (_req, res) => res.json(jwks));
  app.get('/.well-known/openid-configuration', (_req, res) => res.json(metadata));
  app.post('/oauth/token', express.urlencoded({ extended: false }), async (req, res) => {
    const response = new OAuth2Server.Response(res);
    try {
      const token = await oauth.token(new OAuth2Server.Request(req), response);
      res.set('cache-control', 'no-store').json({
        access_token: token.accessToken,
        token_type: 'Bearer',
        expires_in: Math.round((token.accessTokenExpiresAt - Date.now()) / 1000),
        ...(token.refreshToken ? { refresh_token: token.refreshToken } : {}),
        scope: [].concat(token.scope ?? []).join(' '),
      });
    } catch (error) {
      if (!(error instanceof OAuth2Server.OAuthError)) process.stderr.write(`peer error: ${error.stack}\n`);
      res.status(error.code ?? 500).json({ error: error.name ?? 'server_error', error_description: error.message });
    }
  });
  app.listen(port, '127.0.0.1', () => process.stdout.write(`peer listening on ${issuer}\n`));
}

main().catch((error) => {
  process.stderr.write(`${error.stack}\n`);
  process.exit(1);
});
