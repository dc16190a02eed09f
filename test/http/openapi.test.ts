import type { Express } from 'express';
import request from 'supertest';
import { createApp } from '../../src/app';
import { API_ERROR_CODES } from '../../src/errors';
import { backends, openStack, type TestStack } from '../support/backends';
import { PASSWORD, seed, token, type Fixtures } from '../support/fixtures';

/**
 * /openapi.json describes authd's whole HTTP surface and stays true: the (method, path) pairs of
 * the express app and of the document are the same set, every operation answers something,
 * every $ref resolves, and what the API really sends fits the schemas it names.
 */

const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

interface Layer {
  route?: { path: string | string[]; methods: Record<string, boolean | undefined> };
  handle?: { stack?: Layer[] };
  slash?: boolean;
  name?: string;
}

type Doc = Record<string, unknown> & {
  openapi: string;
  info: Record<string, unknown>;
  servers: Array<{ url: string }>;
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, Schema>; securitySchemes: Record<string, unknown> };
};
interface Operation {
  summary?: string;
  tags?: string[];
  parameters?: Array<{ name: string; in: string; required?: boolean; schema?: unknown }>;
  security?: Array<Record<string, string[]>>;
  responses?: Record<string, { description?: string; content?: Record<string, unknown> }>;
}
interface Schema {
  type?: string | string[];
  properties?: Record<string, Schema>;
  allOf?: Schema[];
  $ref?: string;
}

/** Every (METHOD, /path/{param}) the app routes, walking nested routers; router.all 405 fallbacks are not operations. */
function appRoutes(app: Express): string[] {
  const found = new Set<string>();
  const walk = (stack: Layer[]) => {
    for (const layer of stack) {
      if (layer.route) {
        const paths = Array.isArray(layer.route.path) ? layer.route.path : [layer.route.path];
        const methods = Object.keys(layer.route.methods).filter((m) => m !== '_all' && layer.route!.methods[m]);
        for (const path of paths) {
          expect(typeof path).toBe('string');
          for (const method of methods) found.add(`${method.toUpperCase()} ${path.replace(/:(\w+)/g, '{$1}')}`);
        }
      } else if (Array.isArray(layer.handle?.stack)) {
        // Every router of authd is mounted at the root, so its paths are the app's paths.
        expect({ router: layer.name, atRoot: layer.slash }).toEqual({ router: layer.name, atRoot: true });
        walk(layer.handle!.stack!);
      }
    }
  };
  const router = (app as unknown as { router: { stack: Layer[] } }).router;
  walk(router.stack);
  return [...found].sort();
}

function documentedRoutes(doc: Doc): string[] {
  const found: string[] = [];
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const method of Object.keys(item)) {
      expect(HTTP_METHODS).toContain(method);
      found.push(`${method.toUpperCase()} ${path}`);
    }
  }
  return found.sort();
}

function operations(doc: Doc): Array<[string, Operation]> {
  return Object.entries(doc.paths).flatMap(([path, item]) =>
    Object.entries(item).map(([method, op]): [string, Operation] => [`${method.toUpperCase()} ${path}`, op]),
  );
}

/** Resolves a local JSON pointer (RFC 6901) in the document. */
function resolvePointer(doc: unknown, ref: string): unknown {
  if (!ref.startsWith('#/')) return undefined;
  let node: unknown = doc;
  for (const raw of ref.slice(2).split('/')) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (node === null || typeof node !== 'object' || !(key in (node as object))) return undefined;
    node = (node as Record<string, unknown>)[key];
  }
  return node;
}

function allRefs(node: unknown, at = '#'): Array<{ at: string; ref: string }> {
  if (node === null || typeof node !== 'object') return [];
  const refs: Array<{ at: string; ref: string }> = [];
  for (const [key, value] of Object.entries(node)) {
    if (key === '$ref') refs.push({ at, ref: String(value) });
    else refs.push(...allRefs(value, `${at}/${key}`));
  }
  return refs;
}

/** The property names a schema declares, following $ref and allOf. */
function declaredProperties(doc: Doc, schema: Schema): Set<string> {
  if (schema.$ref) return declaredProperties(doc, resolvePointer(doc, schema.$ref) as Schema);
  const names = new Set(Object.keys(schema.properties ?? {}));
  for (const part of schema.allOf ?? []) for (const name of declaredProperties(doc, part)) names.add(name);
  return names;
}

/** The schema of one property, following $ref and allOf. */
function propertySchema(doc: Doc, schema: Schema, name: string): Schema | undefined {
  if (schema.$ref) return propertySchema(doc, resolvePointer(doc, schema.$ref) as Schema, name);
  if (schema.properties?.[name]) return schema.properties[name];
  for (const part of schema.allOf ?? []) {
    const found = propertySchema(doc, part, name);
    if (found) return found;
  }
  return undefined;
}

function jsonType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'number';
  return typeof value;
}

/** Where a value does not fit its schema's type, enum or const (one level of items). */
function typeMismatches(
  doc: Doc,
  schema: Schema & { enum?: unknown[]; const?: unknown; items?: Schema },
  value: unknown,
  at: string,
): string[] {
  if (schema.$ref) return typeMismatches(doc, resolvePointer(doc, schema.$ref) as Schema, value, at);
  const problems: string[] = [];
  if (schema.type !== undefined) {
    const allowed = Array.isArray(schema.type) ? schema.type : [schema.type];
    const actual = jsonType(value);
    if (!allowed.includes(actual) && !(actual === 'integer' && allowed.includes('number')))
      problems.push(`${at}: ${actual} (${JSON.stringify(value)}) but the schema says ${allowed.join('|')}`);
  }
  if (schema.enum !== undefined && !schema.enum.includes(value))
    problems.push(`${at}: ${JSON.stringify(value)} is not one of ${JSON.stringify(schema.enum)}`);
  if (schema.const !== undefined && schema.const !== value)
    problems.push(`${at}: ${JSON.stringify(value)} is not ${JSON.stringify(schema.const)}`);
  if (schema.items && Array.isArray(value)) {
    for (const [i, item] of value.entries()) problems.push(...typeMismatches(doc, schema.items, item, `${at}[${i}]`));
  }
  return problems;
}

const [embedded] = backends();

describe('the OpenAPI document', () => {
  let stack: TestStack;
  let f: Fixtures;
  let doc: Doc;

  beforeAll(async () => {
    stack = await openStack(embedded, { AUTHD_REGISTRATION: 'true' });
    f = await seed(stack);
    const res = await request(f.app).get('/openapi.json');
    expect(res.status).toBe(200);
    doc = res.body;
  });
  afterAll(() => stack.close());

  it('is served as cacheable JSON: OpenAPI 3.1 with the issuer as its server', async () => {
    const res = await request(f.app).get('/openapi.json');
    expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(res.headers['cache-control']).toBe('public, max-age=300');
    expect(doc.openapi).toMatch(/^3\.1\.\d+$/);
    expect(doc.info).toEqual(expect.objectContaining({ title: 'authd', version: expect.any(String) }));
    expect(doc.servers).toEqual([{ url: 'https://authd.test' }]);
  });

  it('describes exactly the routes the app serves (with registration on)', () => {
    const routes = appRoutes(f.app);
    expect(routes.length).toBeGreaterThan(30);
    // Sanity of the walk itself: nested routers, arrays of paths, parameters, the app's own routes.
    expect(routes).toEqual(
      expect.arrayContaining([
        'GET /.well-known/openid-configuration',
        'GET /.well-known/oauth-authorization-server',
        'POST /oauth/token',
        'GET /openapi.json',
        'POST /register',
        'DELETE /admin/users/{id}',
        'POST /admin/keys/{kid}/retire',
        'GET /pages/{file}',
      ]),
    );
    expect(routes).not.toContain('GET /oauth/token');
    expect(documentedRoutes(doc)).toEqual(routes);
  });

  it('describes every route of a server with registration and hosted pages off too (no route left undocumented)', async () => {
    const other = await openStack(embedded, { AUTHD_HOSTED_PAGES: 'false' });
    try {
      const routes = appRoutes(createApp(other.config, other.services));
      const documented = documentedRoutes(doc);
      expect(routes.filter((r) => !documented.includes(r))).toEqual([]);
      expect(documented.filter((r) => !routes.includes(r)).sort()).toEqual([
        'GET /favicon.ico',
        'GET /login',
        'GET /pages/brand.css',
        'GET /pages/{file}',
        'GET /reset',
        'GET /verify-email',
        'POST /register',
      ]);
    } finally {
      await other.close();
    }
  });

  it('gives every operation a summary, tags and at least one response, each with a description and a status code', () => {
    for (const [name, op] of operations(doc)) {
      expect({ name, summary: typeof op.summary, tags: Array.isArray(op.tags) && op.tags.length > 0 }).toEqual({
        name,
        summary: 'string',
        tags: true,
      });
      const responses = Object.entries(op.responses ?? {});
      expect({ name, responses: responses.length > 0 }).toEqual({ name, responses: true });
      for (const [status, response] of responses) {
        expect({ name, status, ok: /^[1-5]\d\d$/.test(status), description: typeof response.description }).toEqual({
          name,
          status,
          ok: true,
          description: 'string',
        });
      }
    }
  });

  it('declares every path parameter, and no path parameter that is not in the path', () => {
    for (const [path, item] of Object.entries(doc.paths)) {
      const inPath = [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();
      for (const [method, op] of Object.entries(item)) {
        const declared = (op.parameters ?? []).filter((p) => p.in === 'path');
        expect({ op: `${method} ${path}`, names: declared.map((p) => p.name).sort() }).toEqual({
          op: `${method} ${path}`,
          names: inPath,
        });
        for (const p of declared)
          expect({ op: `${method} ${path}`, name: p.name, required: p.required }).toEqual({
            op: `${method} ${path}`,
            name: p.name,
            required: true,
          });
      }
    }
  });

  it('resolves every $ref and every security scheme it names', () => {
    const refs = allRefs(doc);
    expect(refs.length).toBeGreaterThan(10);
    for (const { at, ref } of refs)
      expect({ at, ref, resolves: resolvePointer(doc, ref) !== undefined }).toEqual({ at, ref, resolves: true });
    for (const [name, op] of operations(doc)) {
      for (const requirement of op.security ?? []) {
        for (const scheme of Object.keys(requirement))
          expect({ name, scheme, known: scheme in doc.components.securitySchemes }).toEqual({
            name,
            scheme,
            known: true,
          });
      }
    }
    // Every component schema is used somewhere.
    const used = new Set(refs.map((r) => r.ref));
    for (const schema of Object.keys(doc.components.schemas))
      expect({ schema, used: used.has(`#/components/schemas/${schema}`) }).toEqual({ schema, used: true });
  });

  it("names ApiError (a stable code from API_ERROR_CODES) for the admin and account APIs' own errors", async () => {
    const apiError = doc.components.schemas.ApiError as Schema & { required?: string[] };
    expect(propertySchema(doc, apiError, 'code')).toMatchObject({ type: 'string', enum: [...API_ERROR_CODES] });
    expect(apiError.required).toEqual(['error', 'code']);
    let named = 0;
    for (const [name, op] of operations(doc)) {
      if (!op.security?.some((requirement) => 'bearer' in requirement)) continue;
      for (const [status, response] of Object.entries(op.responses ?? {})) {
        if (Number(status) < 400) continue;
        // A refused bearer token (401, and the admin API's missing scope) answers in RFC 6750's shape.
        const bearerRefusal = status === '401' || (status === '403' && name.includes(' /admin'));
        const schema = (response.content?.['application/json'] as { schema?: Schema } | undefined)?.schema;
        const expected = `#/components/schemas/${bearerRefusal ? 'Error' : 'ApiError'}`;
        expect({ name, status, ref: schema?.$ref }).toEqual({ name, status, ref: expected });
        if (!bearerRefusal) named++;
      }
    }
    expect(named).toBeGreaterThan(20);
  });

  // The links a mail carries and the forms for a forgotten password: anonymous by nature.
  const ANONYMOUS_ACCOUNT_OPERATIONS = [
    'POST /account/password-reset',
    'POST /account/password-reset/confirm',
    'POST /account/email-verification',
    'POST /account/email-verification/confirm',
  ];

  it('marks every /admin and /account operation as needing a bearer token, but the four anonymous recovery ones', () => {
    const anonymous: string[] = [];
    for (const [name, op] of operations(doc)) {
      if (!/ \/(admin|account)(\/|$)/.test(name)) continue;
      if (ANONYMOUS_ACCOUNT_OPERATIONS.includes(name)) {
        anonymous.push(name);
        expect({ name, security: op.security }).toEqual({ name, security: undefined });
        continue;
      }
      expect({ name, security: op.security }).toEqual({ name, security: [{ bearer: [] }] });
    }
    expect(anonymous.sort()).toEqual([...ANONYMOUS_ACCOUNT_OPERATIONS].sort());
  });

  /** Real answers of the admin and account APIs, each with the response schema the document gives it. */
  async function realResponses(): Promise<Array<{ what: string; body: Record<string, unknown>; schema: Schema }>> {
    const { services } = stack;
    if (!(await services.clients.findById('admin-cli'))) {
      await services.clientService.create({
        id: 'admin-cli',
        name: 'Admin',
        confidential: false,
        firstParty: true,
        grantTypes: ['password', 'refresh_token'],
        scopes: ['authd:admin', 'authd:account'],
        defaultScopes: ['authd:admin', 'authd:account'],
        audience: stack.config.issuer,
      });
      await services.users.create({ username: 'root@example.com', password: PASSWORD, scopes: ['authd:admin'] });
      await services.clientService.create({
        id: 'confidential-one',
        name: 'C',
        confidential: true,
        grantTypes: ['client_credentials'],
        audience: 'https://api.example.test',
      });
    }
    const login = await token(f.app, {
      grant_type: 'password',
      client_id: 'admin-cli',
      username: 'root@example.com',
      password: PASSWORD,
    });
    const bearer = { Authorization: `Bearer ${login.body.access_token}` };
    // An ended session, so ?all=true shows a revocation too; and a standby key.
    const web = await token(f.app, {
      grant_type: 'password',
      client_id: 'web',
      username: f.alice.username,
      password: PASSWORD,
    });
    await request(f.app).post('/oauth/revoke').type('form').send({ client_id: 'web', token: web.body.refresh_token });
    await request(f.app).post('/admin/keys/rotate').set(bearer).send({});

    const responseSchema = (method: string, path: string, status: string): Schema => {
      const content = doc.paths[path][method].responses![status].content as Record<string, { schema: Schema }>;
      return content['application/json'].schema;
    };
    const itemsOf = (schema: Schema, field: string): Schema =>
      (propertySchema(doc, schema, field) as unknown as { items: Schema }).items;
    const out: Array<{ what: string; body: Record<string, unknown>; schema: Schema }> = [];
    out.push({ what: 'token response', body: login.body, schema: responseSchema('post', '/oauth/token', '200') });
    out.push({
      what: 'user',
      body: (await request(f.app).get(`/admin/users/${f.alice.id}`).set(bearer)).body,
      schema: responseSchema('get', '/admin/users/{id}', '200'),
    });
    out.push({
      what: 'user page',
      body: (await request(f.app).get('/admin/users?limit=1').set(bearer)).body,
      schema: responseSchema('get', '/admin/users', '200'),
    });
    out.push({
      what: 'client',
      body: (await request(f.app).get('/admin/clients/web').set(bearer)).body,
      schema: responseSchema('get', '/admin/clients/{id}', '200'),
    });
    const created = await request(f.app)
      .post('/admin/clients')
      .set(bearer)
      .send({
        name: 'C2',
        type: 'confidential',
        grant_types: ['client_credentials'],
        audience: 'https://api.example.test',
      });
    out.push({ what: 'created client', body: created.body, schema: responseSchema('post', '/admin/clients', '201') });
    const rotated = await request(f.app).post('/admin/clients/confidential-one/rotate-secret').set(bearer);
    out.push({
      what: 'rotated secret',
      body: rotated.body,
      schema: responseSchema('post', '/admin/clients/{id}/rotate-secret', '200'),
    });
    for (const key of (await request(f.app).get('/admin/keys').set(bearer)).body.keys) {
      out.push({
        what: `key (${key.state})`,
        body: key,
        schema: itemsOf(responseSchema('get', '/admin/keys', '200'), 'keys'),
      });
    }
    const events = (await request(f.app).get('/admin/audit?limit=20').set(bearer)).body;
    out.push({ what: 'audit page', body: events, schema: responseSchema('get', '/admin/audit', '200') });
    for (const event of events.events)
      out.push({
        what: `audit event ${event.type}`,
        body: event,
        schema: itemsOf(responseSchema('get', '/admin/audit', '200'), 'events'),
      });
    for (const session of (await request(f.app).get('/account/sessions').set(bearer)).body.sessions) {
      out.push({
        what: 'own session',
        body: session,
        schema: itemsOf(responseSchema('get', '/account/sessions', '200'), 'sessions'),
      });
    }
    const all = (await request(f.app).get(`/admin/users/${f.alice.id}/sessions?all=true`).set(bearer)).body;
    expect(all.sessions.some((s: Record<string, unknown>) => 'revoked_at' in s)).toBe(true);
    for (const session of all.sessions)
      out.push({
        what: 'session (all=true)',
        body: session,
        schema: itemsOf(responseSchema('get', '/admin/users/{id}/sessions', '200'), 'sessions'),
      });
    for (const { what, body } of out) expect({ what, body: typeof body }).toEqual({ what, body: 'object' });
    return out;
  }

  it('names every field the admin and account APIs really send in the schemas of their responses', async () => {
    const undeclared = (await realResponses()).flatMap(({ what, body, schema }) => {
      const declared = declaredProperties(doc, schema);
      return Object.keys(body)
        .filter((k) => !declared.has(k))
        .map((k) => `${what}: ${k}`);
    });
    expect([...new Set(undeclared)]).toEqual([]);
  });

  it('gives those fields the types the API really sends (nullable where the API sends null)', async () => {
    const mismatches = (await realResponses()).flatMap(({ what, body, schema }) =>
      Object.entries(body).flatMap(([k, v]) => {
        const property = propertySchema(doc, schema, k);
        return property ? typeMismatches(doc, property, v, `${what}.${k}`) : [];
      }),
    );
    expect([...new Set(mismatches)]).toEqual([]);
  });
});
