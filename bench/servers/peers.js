'use strict';
// The benchmark peers (devDependencies used only here), each as its own process, seeded with the
// same clients, 1,000 users and Argon2id hash as authd. Refresh pools come from real password
// logins against the peer.
const crypto = require('node:crypto');
const { freePort, startProcess } = require('../process');
const { scratchDatabase } = require('../scratch-database');
const { form, basic, passwordLines, PASSWORD, USERS } = require('./common');

const PEERS = {
  'oidc-memory': {
    label: 'oidc-provider (memory)',
    script: 'bench/peers/oidc-provider.mjs',
    postgres: false,
    paths: { token: '/token', jwks: '/jwks' },
    ccBody: 'grant_type=client_credentials&scope=read',
  },
  'oidc-pg': {
    label: 'oidc-provider (Postgres adapter)',
    script: 'bench/peers/oidc-provider.mjs',
    postgres: true,
    paths: { token: '/token', jwks: '/jwks' },
    ccBody: 'grant_type=client_credentials&scope=read',
  },
  'oauth2-server-pg': {
    label: '@node-oauth/oauth2-server + pg',
    script: 'bench/peers/oauth2-server.js',
    postgres: true,
    paths: { token: '/oauth/token', jwks: '/.well-known/jwks.json' },
    ccBody: 'grant_type=client_credentials',
  },
};

/** `count` refresh tokens from password logins, 4 at a time. */
async function loginTokens(url, count) {
  const tokens = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      while (next < count) {
        const i = next++;
        const response = await fetch(url, {
          method: 'POST',
          headers: form(),
          body: `grant_type=password&client_id=bench-web&username=user${1 + (i % USERS)}&password=${encodeURIComponent(PASSWORD)}`,
        });
        const body = await response.json();
        if (!body.refresh_token)
          throw new Error(`peer login gave no refresh token: ${response.status} ${JSON.stringify(body)}`);
        tokens.push(body.refresh_token);
      }
    }),
  );
  return tokens;
}

async function startPeer({ key, adminUrl, connections, passwordHash }) {
  const peer = PEERS[key];
  const db = peer.postgres ? await scratchDatabase(adminUrl, 'authd_bench_peer') : undefined;
  try {
    const port = await freePort();
    const secret = crypto.randomBytes(32).toString('base64url');
    const env = {
      PATH: process.env.PATH,
      NODE_ENV: 'production',
      PORT: String(port),
      PEER_CLIENT_SECRET: secret,
      PEER_PASSWORD_HASH: passwordHash,
      PEER_USERS: String(USERS),
      ...(db && { PEER_DATABASE_URL: db.url }),
    };
    const proc = await startProcess(process.execPath, [peer.script], env, port);
    const url = `http://127.0.0.1:${port}`;
    const { token } = peer.paths;
    const scenarios = {
      password: () => ({ kind: 'cycle', path: token, headers: form(), lines: passwordLines() }),
      refresh_token: async () => ({
        kind: 'refresh',
        path: token,
        headers: form(),
        body: 'grant_type=refresh_token&client_id=bench-web&refresh_token=',
        lines: await loginTokens(url + token, connections * 2),
      }),
      client_credentials: () => ({
        kind: 'static',
        method: 'POST',
        path: token,
        headers: form({ authorization: basic('bench-machine', secret) }),
        body: peer.ccBody,
      }),
      JWKS: () => ({ kind: 'static', method: 'GET', path: peer.paths.jwks }),
      discovery: () => ({ kind: 'static', method: 'GET', path: '/.well-known/openid-configuration' }),
    };
    return {
      key,
      label: peer.label,
      authd: false,
      pid: proc.pid,
      output: proc.output,
      database: db?.name,
      url,
      scenario: async (name) => scenarios[name]?.(),
      stop: async () => {
        await proc.stop();
        await db?.drop();
      },
    };
  } catch (error) {
    await db?.drop();
    throw error;
  }
}

module.exports = { PEERS, startPeer };
