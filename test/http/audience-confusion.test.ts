import type { Express } from 'express';
import pino from 'pino';
import request from 'supertest';
import { createApp } from '../../src/app';
import { createDemoAccount, DEMO_AUDIENCE, DEMO_CLIENT_ID } from '../../src/dev-bootstrap';
import { ensureHostedPagesClient } from '../../src/hosted-pages-client';
import { warnAboutIssuerAudienceClients } from '../../src/issuer-audience-check';
import { backends, openStack, type TestStack } from '../support/backends';
import { decodeJwt, PASSWORD, token } from '../support/fixtures';

/**
 * A token meant for some API must not work at authd's own APIs (/account, /admin). Before this,
 * a client made without --audience got the issuer as audience, and so did the example API: a
 * token sent to that API could be replayed at /account, and at /admin when it carried the admin
 * scope.
 */

const ISSUER = 'https://authd.test';
const NOT_OWN_CLIENT = {
  error: 'invalid_token',
  error_description: "The token was not issued to one of authd's own clients.",
};
const NOT_FOR_AUTHD = { error: 'invalid_token', error_description: 'The token is not meant for authd.' };

describe.each(backends())('audiences on $name', (backend) => {
  let stack: TestStack;
  let app: Express;

  beforeAll(async () => {
    stack = await openStack(backend);
    const { clientService, clients, users } = stack.services;
    // An API's login client may list the admin scope: its tokens are for the API all the same.
    await clientService.create({
      id: 'notes-web',
      name: 'Notes',
      confidential: false,
      firstParty: true,
      grantTypes: ['password', 'refresh_token'],
      scopes: ['read', 'authd:admin'],
      defaultScopes: ['read'],
      audience: 'https://notes.test',
    });
    await clientService.create({
      id: 'admin-cli',
      name: 'Admin',
      confidential: false,
      firstParty: true,
      grantTypes: ['password', 'refresh_token'],
      scopes: ['authd:admin'],
      defaultScopes: ['authd:admin'],
      audience: ISSUER,
    });
    // What `clients create --scope read,authd:admin` without --audience made before the rule.
    await clients.insert({
      id: 'legacy-web',
      name: 'Legacy',
      secretDigest: null,
      firstParty: true,
      canIntrospect: false,
      grantTypes: ['password', 'refresh_token'],
      scopes: ['read', 'authd:admin'],
      defaultScopes: ['read'],
      audience: ISSUER,
      accessTokenTtl: null,
      refreshIdleTtl: null,
      refreshAbsoluteTtl: null,
      cookieMode: false,
      allowedOrigins: [],
      redirectUris: [],
      userClaims: [],
      metadataClaims: [],
      requireMfa: false,
      now: new Date(stack.clock.now()),
    });
    await users.create({ username: 'root', password: PASSWORD, scopes: ['read', 'authd:admin'] });
    app = createApp(stack.config, stack.services);
  });
  afterAll(() => stack.close());

  async function accessToken(clientId: string, scope?: string, headers: Record<string, string> = {}): Promise<string> {
    const res = await token(
      app,
      { grant_type: 'password', client_id: clientId, username: 'root', password: PASSWORD, ...(scope && { scope }) },
      headers,
    );
    expect({ status: res.status, error: res.body.error }).toEqual({ status: 200, error: undefined });
    return res.body.access_token;
  }

  const call = (method: 'get' | 'post', path: string, jwt: string) =>
    request(app)[method](path).set('Authorization', `Bearer ${jwt}`);

  it('refuses at /account and /admin a token for an API, even one carrying the admin scope', async () => {
    const jwt = await accessToken('notes-web', 'read authd:admin');
    expect(decodeJwt(jwt).payload).toEqual(
      expect.objectContaining({ aud: 'https://notes.test', scope: 'read authd:admin' }),
    );
    for (const [method, path] of [
      ['get', '/account'],
      ['get', '/admin/users'],
      ['post', '/admin/keys/rotate'],
    ] as const) {
      const res = await call(method, path, jwt);
      expect({ path, status: res.status, body: res.body }).toEqual({ path, status: 401, body: NOT_FOR_AUTHD });
    }
    expect((await call('get', '/admin/keys', await accessToken('admin-cli'))).body.keys).toHaveLength(1); // nothing was rotated
  });

  it('refuses the tokens of a client made before the rule (issuer audience next to other scopes) at /account and /admin', async () => {
    const jwt = await accessToken('legacy-web', 'read authd:admin');
    expect(decodeJwt(jwt).payload).toEqual(expect.objectContaining({ aud: ISSUER, scope: 'read authd:admin' }));
    for (const path of ['/account', '/admin/users']) {
      const res = await call('get', path, jwt);
      expect({ path, status: res.status, body: res.body }).toEqual({ path, status: 401, body: NOT_OWN_CLIENT });
    }
  });

  it('names each such client in a warning at start', async () => {
    const lines: string[] = [];
    const logger = pino({ level: 'warn' }, { write: (line: string) => void lines.push(line) });
    await warnAboutIssuerAudienceClients({ ...stack.services, logger });
    expect(lines.map((l) => JSON.parse(l)).map(({ client_id, scopes }) => ({ client_id, scopes }))).toEqual([
      { client_id: 'legacy-web', scopes: ['read'] },
    ]);
  });

  it('requires the account scope at /account: an admin token without it gets 403 insufficient_scope', async () => {
    const res = await call('get', '/account', await accessToken('admin-cli'));
    expect({ status: res.status, challenge: res.headers['www-authenticate'], body: res.body }).toEqual({
      status: 403,
      challenge: `Bearer realm="${ISSUER}", error="insufficient_scope", error_description="The token lacks the scope this resource needs.", scope="authd:account"`,
      body: { error: 'insufficient_scope', error_description: 'The token lacks the scope this resource needs.' },
    });
  });

  it('gives the hosted pages client the account scope, which every user holds; an older one gets it on start', async () => {
    const { clients } = stack.services;
    await ensureHostedPagesClient(stack.config, stack.services);
    expect(await clients.findById('authd-pages')).toEqual(
      expect.objectContaining({ audience: ISSUER, scopes: ['authd:account'], defaultScopes: ['authd:account'] }),
    );
    const origin = { Origin: ISSUER };
    const res = await call('get', '/account', await accessToken('authd-pages', undefined, origin));
    expect({ status: res.status, username: res.body.username }).toEqual({ status: 200, username: 'root' }); // root's record lists no authd:account

    const pages = (await clients.findById('authd-pages'))!;
    await clients.update('authd-pages', { ...pages, scopes: [], defaultScopes: [] }, new Date(stack.clock.now()));
    stack.services.clientCache.invalidate('authd-pages');
    await ensureHostedPagesClient(stack.config, stack.services);
    expect(await clients.findById('authd-pages')).toEqual(
      expect.objectContaining({ scopes: ['authd:account'], defaultScopes: ['authd:account'] }),
    );
  });
});

describe.each(backends())('the development demo account on $name', (backend) => {
  let stack: TestStack;
  afterAll(() => stack.close());

  it("has its own audience: its tokens are for an API (examples/protected-api), not for authd's", async () => {
    stack = await openStack(backend);
    const demo = (await createDemoAccount(stack.services))!;
    expect(demo.clientId).toBe(DEMO_CLIENT_ID);
    const app = createApp(stack.config, stack.services);
    const res = await token(app, {
      grant_type: 'password',
      client_id: demo.clientId,
      username: demo.username,
      password: demo.password,
    });
    expect(decodeJwt(res.body.access_token).payload.aud).toBe(DEMO_AUDIENCE);
    const account = await request(app).get('/account').set('Authorization', `Bearer ${res.body.access_token}`);
    expect({ status: account.status, body: account.body }).toEqual({ status: 401, body: NOT_FOR_AUTHD });
  });
});
