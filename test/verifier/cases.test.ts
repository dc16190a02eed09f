/**
 * Every case of spec/verifier-cases.json, the table both verifier kits are tested against, run
 * against the Node kit over HTTP (requireAuth, then requireScope/requireRole where the case has a
 * route), with tokens a live authd issued and tokens forged as each case describes. Checks the
 * RFC 6750 answer (status, error) and the stable reason the service's onError hook sees.
 *
 * Token recipes: `issued` is a password login at authd ("access" or "refresh"), changed by
 * `pad_to` (padded to that length), `tamper` (claims changed, the signature kept), `revoke` (revoked
 * at authd) or `revoke_key` (its kid written into the Redis revocation index). `forge` starts from
 * an issued access token's header and claims, applies `header` and `claims` (null removes; "now+N"
 * and "now-N" are seconds from authd's clock) and signs with `sign`: authd's key, a foreign RSA
 * key (under the header's kid, or authd's kid), HS256 keyed with authd's public key PEM, or none.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import express from 'express';
import { Redis } from 'ioredis';
import request from 'supertest';
import {
  createVerifier,
  requireAcr,
  requireAuth,
  requireMfa,
  requireRole,
  requireScope,
  revokedKeyKey,
  type VerifierOptions,
  type VerifierReason,
} from '@authd/verifier';
import { backends, type TestStack } from '../support/backends';
import { decodeJwt, PASSWORD } from '../support/fixtures';
import { freePort } from '../support/processes';
import { loginAt, startLiveAuthd, type LiveAuthd } from './live-authd';

jest.setTimeout(60_000);

type Json = Record<string, unknown>;
interface Case {
  name: string;
  request?: { authorization: string | null };
  token?: {
    issued?: 'access' | 'refresh';
    pad_to?: number;
    tamper?: Json;
    revoke?: boolean;
    revoke_key?: boolean;
    forge?: {
      header?: Json;
      claims?: Json;
      sign: 'authd-key' | 'foreign-key' | 'foreign-key-authd-kid' | 'hs256-with-public-key' | 'none';
    };
  };
  revocation?: Array<'redis' | 'introspection' | 'redis-down'>;
  route?: { scope?: string; role?: string; mfa?: true; acr?: string[]; max_age?: number };
  expect: {
    ok?: true;
    status?: number;
    error?: string | null;
    reason?: VerifierReason;
    challenge?: Record<string, string>;
  };
}

const spec = JSON.parse(fs.readFileSync(path.join(__dirname, '../../spec/verifier-cases.json'), 'utf8')) as {
  cases: Case[];
};
const AUDIENCE = 'https://agents.test';
const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

/** Applies a case's overrides: null removes the entry, "now±N" becomes a NumericDate. */
function override(base: Json, changes: Json, nowSeconds: number, foreignJwk: Json): Json {
  const result = { ...base };
  for (const [name, value] of Object.entries(changes)) {
    if (value === null) delete result[name];
    else if (typeof value === 'string' && /^now[+-]\d+$/.test(value))
      result[name] = nowSeconds + Number(value.slice(3));
    else if (value === 'foreign-public') result[name] = foreignJwk;
    else result[name] = value;
  }
  return result;
}

/** One run of a case: the case in one revocation mode ("none" when it names none). */
function runs(backendHasRedis: boolean): Array<[string, Case, string]> {
  return spec.cases.flatMap((c) =>
    (c.revocation ?? ['none'])
      .filter((mode) => mode !== 'redis' || backendHasRedis)
      .map((mode): [string, Case, string] => [mode === 'none' ? c.name : `${c.name} [${mode}]`, c, mode]),
  );
}

/** The checks a case's route adds after requireAuth. */
function routeGuards(route: Case['route']) {
  if (!route) return [];
  const guards: Array<ReturnType<typeof requireScope>> = [];
  if (route.scope) guards.push(requireScope(route.scope));
  if (route.role) guards.push(requireRole(route.role));
  const maxAge = route.max_age === undefined ? {} : { maxAge: route.max_age };
  if (route.mfa) guards.push(requireMfa(maxAge));
  if (route.acr) guards.push(requireAcr(route.acr, maxAge));
  return guards;
}

describe.each(backends())('spec/verifier-cases.json against the Node kit, authd on $name', (backend) => {
  let stack: TestStack;
  let authd: LiveAuthd;
  let issuer: string;
  let introspectionSecret: string;
  let redis: Redis | undefined;
  let downRedis: Redis;
  const foreign = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const foreignJwk = { kty: 'RSA', ...foreign.publicKey.export({ format: 'jwk' }) } as Json;

  beforeAll(async () => {
    authd = await startLiveAuthd(backend);
    ({ stack, issuer } = authd);
    const { clientService, users } = stack.services;
    await clientService.create({
      id: 'agents-web',
      name: 'Agents web',
      confidential: false,
      firstParty: true,
      grantTypes: ['password', 'refresh_token'],
      scopes: ['read'],
      defaultScopes: ['read'],
      audience: AUDIENCE,
    });
    const resourceServer = await clientService.create({
      id: 'agents-api',
      name: 'Agents API',
      confidential: true,
      canIntrospect: true,
      grantTypes: [],
      audience: AUDIENCE,
    });
    introspectionSecret = resourceServer.secret!;
    await users.create({ username: 'ada@example.com', password: PASSWORD, roles: ['user'], scopes: ['read'] });
    if (backend.redisUrl) redis = new Redis(backend.redisUrl);
    // Nobody listens there; no queueing, no retries: every command fails at once.
    downRedis = new Redis({
      port: await freePort(),
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
      disconnectTimeout: 0,
    });
    downRedis.on('error', () => {});
  });

  afterAll(async () => {
    downRedis?.disconnect();
    await redis?.quit();
    await authd?.close();
  });

  async function form(pathname: string, params: Record<string, string>): Promise<Json> {
    const response = await fetch(`${issuer}${pathname}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(params).toString(),
    });
    const body = (await response.json().catch(() => ({}))) as Json;
    if (response.status !== 200) throw new Error(`${pathname} answered ${response.status}: ${JSON.stringify(body)}`);
    return body;
  }

  const login = () => loginAt(issuer, { clientId: 'agents-web', username: 'ada@example.com' });

  function forge(recipe: NonNullable<NonNullable<Case['token']>['forge']>, issued: string): string {
    const base = decodeJwt(issued);
    const nowSeconds = Math.floor(stack.clock.now() / 1000);
    const signing = stack.services.ring.signingKey();
    const header = override(
      recipe.sign === 'none' || recipe.sign === 'hs256-with-public-key'
        ? { ...base.header, alg: recipe.sign === 'none' ? 'none' : 'HS256' }
        : base.header,
      recipe.header ?? {},
      nowSeconds,
      foreignJwk,
    );
    const input = `${b64(header)}.${b64(override(base.payload, recipe.claims ?? {}, nowSeconds, foreignJwk))}`;
    switch (recipe.sign) {
      case 'none':
        return `${input}.`;
      case 'hs256-with-public-key': {
        const publicPem = signing.publicKey.export({ type: 'spki', format: 'pem' });
        return `${input}.${crypto.createHmac('sha256', publicPem).update(input).digest('base64url')}`;
      }
      case 'authd-key':
        return `${input}.${crypto.sign('sha256', Buffer.from(input), signing.privateKey!).toString('base64url')}`;
      case 'foreign-key':
      case 'foreign-key-authd-kid':
        return `${input}.${crypto.sign('sha256', Buffer.from(input), foreign.privateKey).toString('base64url')}`;
    }
  }

  /** The token a case describes, and what to undo after it. */
  async function tokenFor(
    recipe: NonNullable<Case['token']>,
  ): Promise<{ token: string; undo?: () => Promise<unknown> }> {
    const issued = await login();
    if (recipe.forge) return { token: forge(recipe.forge, issued.access) };
    let token = recipe.issued === 'refresh' ? issued.refresh : issued.access;
    if (recipe.tamper) {
      const [header, , signature] = token.split('.');
      token = `${header}.${b64({ ...decodeJwt(token).payload, ...recipe.tamper })}.${signature}`;
    }
    if (recipe.pad_to) token = token.padEnd(recipe.pad_to, 'A');
    if (recipe.revoke) await form('/oauth/revoke', { client_id: 'agents-web', token });
    if (recipe.revoke_key) {
      // The server's side of key revocation writes this entry; here the test writes it the same way.
      const key = stack.config.redisPrefix + revokedKeyKey(String(decodeJwt(token).header.kid));
      await redis!.set(key, String(stack.clock.now()));
      return { token, undo: () => redis!.del(key) };
    }
    return { token };
  }

  function revocationFor(mode: string): VerifierOptions['revocation'] {
    if (mode === 'redis') return { redis: redis!, keyPrefix: stack.config.redisPrefix };
    if (mode === 'redis-down') return { redis: downRedis, keyPrefix: stack.config.redisPrefix };
    if (mode === 'introspection')
      return { introspection: { clientId: 'agents-api', clientSecret: introspectionSecret } };
    return undefined;
  }

  it.each(runs(Boolean(backend.redisUrl)))('%s', async (_label, testCase, mode) => {
    const options: VerifierOptions = {
      issuer,
      audience: AUDIENCE,
      now: () => stack.clock.now(),
      revocation: revocationFor(mode),
    };
    const reasons: VerifierReason[] = [];
    const refusedPaths: string[] = [];
    const app = express();
    const auth = requireAuth<express.Request>({
      ...options,
      verifier: createVerifier(options),
      onError: (error, req) => {
        reasons.push(error.reason);
        refusedPaths.push(req.path);
      },
    });
    const route = routeGuards(testCase.route);
    app.get('/resource', auth, ...route, (req, res) => res.json({ sub: req.auth!.sub }));

    let authorization: string | null;
    let undo: (() => Promise<unknown>) | undefined;
    if (testCase.token) {
      const made = await tokenFor(testCase.token);
      authorization = `Bearer ${made.token}`;
      undo = made.undo;
    } else {
      authorization = testCase.request!.authorization;
    }
    let res: request.Response;
    try {
      const call = request(app).get('/resource');
      res = await (authorization === null ? call : call.set('Authorization', authorization));
    } finally {
      await undo?.();
    }

    const { expect: outcome } = testCase;
    if (outcome.ok) {
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ sub: expect.any(String) });
      expect(reasons).toEqual([]);
      return;
    }
    expect(res.status).toBe(outcome.status);
    expect(reasons).toEqual([outcome.reason]);
    expect(refusedPaths).toEqual(['/resource']);
    // The answer says no more than RFC 6750 asks: error and description, never the reason's code.
    expect(Object.keys(res.body).sort()).toEqual(['error', 'error_description']);
    if (outcome.error === null) {
      expect(res.headers['www-authenticate']).toBe(`Bearer realm="${AUDIENCE}"`);
      expect(res.body.error).toBe('unauthorized');
    } else if (outcome.error !== undefined) {
      expect(res.headers['www-authenticate']).toMatch(
        new RegExp(`^Bearer realm="${AUDIENCE}", error="${outcome.error}", error_description="[^"]+"`),
      );
      expect(res.body.error).toBe(outcome.error);
      // Exactly the step-up parameters the case lists (RFC 9470 §3), and none when it lists none.
      const extra = Object.fromEntries(
        [...String(res.headers['www-authenticate']).matchAll(/, (acr_values|max_age)="([^"]*)"/g)].map((m) => [
          m[1],
          m[2],
        ]),
      );
      expect(extra).toEqual(outcome.challenge ?? {});
    }
  });
});
