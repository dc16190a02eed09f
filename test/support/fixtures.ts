import type { Express } from 'express';
import request from 'supertest';
import { createApp } from '../../src/app';
import type { TestStack } from './backends';

export const PASSWORD = 'correct horse battery staple';

export interface Fixtures {
  app: Express;
  /** A first-party public client (a login form): password + refresh_token. */
  web: { id: string };
  /** A first-party confidential client: password + refresh_token, with a secret. */
  backend: { id: string; secret: string };
  /** A machine client: client_credentials only. */
  machine: { id: string; secret: string };
  /** A third-party confidential client: not first-party, so no password grant. */
  thirdParty: { id: string; secret: string };
  alice: { id: string; username: string };
}

/** Users and clients most HTTP tests need, created through the same services the CLI uses. */
export async function seed(stack: TestStack): Promise<Fixtures> {
  const { services } = stack;
  await services.clientService.create({
    id: 'web',
    name: 'Web login',
    confidential: false,
    firstParty: true,
    grantTypes: ['password', 'refresh_token'],
    scopes: ['profile', 'read', 'write'],
    defaultScopes: ['profile', 'read'],
    audience: 'https://api.test',
  });
  const backend = await services.clientService.create({
    id: 'backend',
    name: 'BFF',
    confidential: true,
    firstParty: true,
    grantTypes: ['password', 'refresh_token'],
    scopes: ['profile', 'read'],
    defaultScopes: ['profile'],
    audience: 'https://api.test',
  });
  const machine = await services.clientService.create({
    id: 'machine',
    name: 'Billing job',
    confidential: true,
    grantTypes: ['client_credentials'],
    scopes: ['invoices:read', 'invoices:write'],
    defaultScopes: ['invoices:read'],
    audience: 'https://billing.test',
  });
  const thirdParty = await services.clientService.create({
    id: 'third-party',
    name: 'Partner',
    confidential: true,
    grantTypes: ['client_credentials'],
    scopes: ['read'],
    audience: 'https://partner.test',
  });
  const alice = await services.users.create({
    username: 'Alice@Example.com',
    password: PASSWORD,
    roles: ['user', 'editor'],
    scopes: ['profile', 'read', 'write'],
  });
  return {
    app: createApp(stack.config, services),
    web: { id: 'web' },
    backend: { id: 'backend', secret: backend.secret! },
    machine: { id: 'machine', secret: machine.secret! },
    thirdParty: { id: 'third-party', secret: thirdParty.secret! },
    alice: { id: alice.id, username: 'alice@example.com' },
  };
}

export function basic(id: string, secret: string): string {
  return 'Basic ' + Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64');
}

/** POST /oauth/token with a form body. */
export function token(app: Express, params: Record<string, string>, headers: Record<string, string> = {}) {
  return request(app).post('/oauth/token').type('form').set(headers).send(params);
}

export async function passwordLogin(app: Express, params: Record<string, string> = {}) {
  return token(app, {
    grant_type: 'password',
    client_id: 'web',
    username: 'alice@example.com',
    password: PASSWORD,
    ...params,
  });
}

/** Decodes a JWT's header and payload without verifying it (for assertions). */
export function decodeJwt(jwt: string): { header: Record<string, unknown>; payload: Record<string, unknown> } {
  const [h, p] = jwt.split('.');
  return {
    header: JSON.parse(Buffer.from(h, 'base64url').toString()),
    payload: JSON.parse(Buffer.from(p, 'base64url').toString()),
  };
}

/**
 * Two more clients the revocation and introspection suites share: `api`, a resource server
 * allowed to introspect, and `kiosk`, a login form without refresh tokens (its access tokens
 * carry no sid, so only jti and user revocations reach them). Returns the resource server's
 * credentials.
 */
export async function seedResourceServer(stack: TestStack): Promise<{ id: string; secret: string }> {
  const created = await stack.services.clientService.create({
    id: 'api',
    name: 'API',
    confidential: true,
    canIntrospect: true,
    grantTypes: [],
    audience: 'https://api.test',
  });
  await stack.services.clientService.create({
    id: 'kiosk',
    name: 'Kiosk',
    confidential: false,
    firstParty: true,
    grantTypes: ['password'],
    scopes: ['profile', 'read'],
    defaultScopes: ['profile'],
    audience: 'https://api.test',
  });
  return { id: 'api', secret: created.secret! };
}
