import crypto from 'node:crypto';
import http from 'node:http';
import fc from 'fast-check';
import request from 'supertest';
import { backends, openStack, type TestStack } from '../support/backends';
import { basic, decodeJwt, passwordLogin, PASSWORD, seed, token, type Fixtures } from '../support/fixtures';

/**
 * Cross-cutting robustness of the whole HTTP surface against hostile input: whatever arrives,
 * authd answers in time, below 500, in the one OAuth error shape, without leaking internals or
 * polluting prototypes. Then a few targeted cases, and forged JWTs at the two places that
 * verify tokens presented by callers (the refresh grant and introspection).
 */

type Response = request.Response;

const ISSUER = 'https://authd.test';
const INVALID_REFRESH = {
  error: 'invalid_grant',
  error_description: 'The refresh token is invalid, expired or revoked.',
};
/** Stack frames, source paths, module names: nothing a client should ever read. */
const INTERNALS = /\bat (?:\S+ \()?(?:\/|node:|file:)[^\s)]*:\d+:\d+|\/src\/|node_modules/;
const RESPONSE_TIMEOUT = { response: 5000, deadline: 10_000 };
/** 150 per endpoint keeps the suite fast; HOSTILE_INPUT_RUNS=5000 digs deeper locally. */
const NUM_RUNS = Number(process.env.HOSTILE_INPUT_RUNS ?? 150);

const b64url = (value: unknown) =>
  Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');

function prototypeSnapshot(): string[] {
  return Object.getOwnPropertyNames(Object.prototype).sort();
}

/** The property every answer must have, whatever was asked. */
function expectSaneAnswer(res: Response, method: string): void {
  if (res.status >= 500) throw new Error(`answered ${res.status}: ${res.text?.slice(0, 300)}`);
  const text = res.text ?? '';
  if (INTERNALS.test(text)) throw new Error(`the answer leaks internals: ${text.slice(0, 300)}`);
  if (res.status >= 400 && method !== 'HEAD') {
    const type = String(res.headers['content-type'] ?? '');
    if (!type.startsWith('application/json'))
      throw new Error(`an error of status ${res.status} is not JSON but ${type}: ${text.slice(0, 200)}`);
    const body: unknown = JSON.parse(text);
    if (typeof body !== 'object' || body === null || Array.isArray(body))
      throw new Error(`error body is not an object: ${text.slice(0, 200)}`);
    const keys = Object.keys(body).sort();
    const { error, error_description: description } = body as Record<string, unknown>;
    if (keys.join(',') !== 'error,error_description' || typeof error !== 'string' || typeof description !== 'string') {
      throw new Error(`error body is not {error, error_description}: ${text.slice(0, 200)}`);
    }
  }
}

/** Signs header.payload with RS256 exactly as given (jose would refuse some of these headers). */
function signRs256(header: object, payloadSegment: string, key: crypto.KeyObject): string {
  const input = `${b64url(header)}.${payloadSegment}`;
  return `${input}.${crypto.sign('sha256', Buffer.from(input), key).toString('base64url')}`;
}

function signHs256(header: object, payloadSegment: string, secret: string | Buffer): string {
  const input = `${b64url(header)}.${payloadSegment}`;
  return `${input}.${crypto.createHmac('sha256', secret).update(input).digest('base64url')}`;
}

const PARAM_NAMES = [
  'grant_type',
  'client_id',
  'client_secret',
  'username',
  'password',
  'scope',
  'refresh_token',
  'token',
  'token_type_hint',
  '__proto__',
  'constructor',
  'prototype',
] as const;

/** Characters a header value may carry on the wire (Node refuses the others before sending). */
const headerChar = fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c));
const headerString = (maxLength = 200) => fc.string({ unit: headerChar, maxLength });
/** UTF-16 code units, lone surrogates and C0 controls included. */
const anyCodeUnits = fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)) });
/**
 * Characters that break naive code: NUL and other controls, lone surrogates, a BOM, bidi overrides,
 * line separators, form-encoding and Basic delimiters, and letters that grow under NFKC or lower-casing.
 */
const nastyChars = fc.string({
  unit: fc.constantFrom(
    '\u0000',
    '\u0001',
    '\t',
    '\n',
    '\r',
    '\u001b',
    '\u007f',
    '\u0085',
    '\ud800',
    '\udfff',
    '\ufeff',
    '\u202e',
    '\u2028',
    '%',
    '+',
    ':',
    '&',
    '=',
    '"',
    '\\',
    ' ',
    'a',
    '@',
    '\u00e9',
    '\u0130',
    '\ufb00',
    '\ufdfa',
    '\u{1f600}',
  ),
  maxLength: 40,
});

interface Material {
  kid: string;
  clients: Array<{ id: string; secret?: string }>;
  tokens: string[];
}

/** Three base64url parts of random JSON with the headers attackers like. */
function jwtLike(m: Material): fc.Arbitrary<string> {
  const header = fc.record(
    {
      alg: fc.constantFrom('none', 'None', 'HS256', 'RS256', 'ES256'),
      kid: fc.oneof(
        fc.constant('../../etc/passwd'),
        fc.constant(m.kid),
        fc.string(),
        fc.string({ unit: 'binary' }),
        fc.stringMatching(/^[A-Za-z0-9_-]{43}$/),
      ),
      typ: fc.oneof(fc.constantFrom('JWT', 'at+jwt', 'rt+jwt', 'AT+JWT'), fc.string()),
      jku: fc.webUrl(),
      jwk: fc.jsonValue({ maxDepth: 2 }),
      crit: fc.array(fc.string(), { maxLength: 3 }),
    },
    { requiredKeys: ['alg'] },
  );
  const claims = fc.record(
    {
      iss: fc.oneof(fc.constant(ISSUER), fc.string()),
      sub: fc.oneof(fc.uuid(), fc.string()),
      aud: fc.oneof(fc.constant(ISSUER), fc.constant('https://api.test'), fc.array(fc.string())),
      exp: fc.oneof(fc.integer(), fc.double(), fc.string()),
      iat: fc.oneof(fc.integer(), fc.string()),
      jti: fc.oneof(fc.uuid(), fc.string()),
      client_id: fc.oneof(fc.constantFrom(...m.clients.map((c) => c.id)), fc.string()),
      sid: fc.oneof(fc.uuid(), fc.string()),
      scope: fc.string(),
    },
    { requiredKeys: [] },
  );
  const signature = fc.oneof(
    fc.constant(''),
    fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b).toString('base64url')),
    fc.string(),
  );
  return fc
    .tuple(fc.oneof(header, fc.jsonValue({ maxDepth: 2 })), fc.oneof(claims, fc.jsonValue({ maxDepth: 2 })), signature)
    .map(([h, p, s]) => `${b64url(h)}.${b64url(p)}.${s}`);
}

/** A real token, or one damaged a little: truncated, extended, one character changed. */
function nearlyReal(m: Material): fc.Arbitrary<string> {
  return fc
    .tuple(
      fc.constantFrom(...m.tokens),
      fc.nat(),
      fc.constantFrom('keep', 'truncate', 'append', 'flip'),
      fc.string({ minLength: 1, maxLength: 5 }),
    )
    .map(([t, n, how, extra]) => {
      const at = n % t.length;
      if (how === 'truncate') return t.slice(0, at);
      if (how === 'append') return t + extra;
      if (how === 'flip') return t.slice(0, at) + (t[at] === 'A' ? 'B' : 'A') + t.slice(at + 1);
      return t;
    });
}

/**
 * Any parameter value. fast-check 4 spells v3's fullUnicodeString() as string({ unit: 'binary' }),
 * and without size: 'max' a maxLength of 20000 would still only yield a dozen characters.
 */
function paramValue(m: Material): fc.Arbitrary<string> {
  return fc.oneof(
    fc.string(),
    fc.string({ unit: 'binary' }),
    fc.constant(''),
    fc.string({ maxLength: 20000, size: 'max' }),
    anyCodeUnits,
    { weight: 3, arbitrary: nastyChars },
    jwtLike(m),
    nearlyReal(m),
  );
}

function authorization(m: Material): fc.Arbitrary<string> {
  return fc.oneof(
    fc.uint8Array({ maxLength: 300 }).map((b) => 'Basic ' + Buffer.from(b).toString('base64')),
    fc
      .tuple(fc.oneof(fc.string({ unit: 'binary' }), nastyChars), fc.string({ unit: 'binary' }))
      .map(([u, p]) => 'Basic ' + Buffer.from(`${u}:${p}`).toString('base64')),
    fc
      .tuple(fc.constantFrom(...m.clients), fc.boolean())
      .map(([c, right]) => basic(c.id, right && c.secret ? c.secret : 'wrong-secret')),
    jwtLike(m).map((t) => 'Bearer ' + t),
    fc.constantFrom(
      'Basic',
      'Basic ',
      'Basic ===',
      'Basic Og==',
      'basic Og==',
      'Bearer',
      'Digest x',
      'Basic ' + 'A'.repeat(4000),
    ),
    headerString(),
    headerString().map((s) => 'Basic ' + s),
  );
}

const CONTENT_TYPES = [
  'application/x-www-form-urlencoded',
  'application/json',
  'application/x-www-form-urlencoded; charset=utf-8',
  'application/json; charset=utf-8',
  'application/x-www-form-urlencoded; charset=latin1',
  'application/json; charset=utf-16',
  'application/json; charset=bogus',
  'text/plain',
  'text/html',
  'multipart/form-data; boundary=x',
  'application/xml',
  'application/*',
  '*/*',
  'application/vnd.api+json',
  'application/x-www-form-urlencoded;;;',
  'json',
];

type Body = { text: string; matchingType: string } | undefined;

const FORM_TYPE = 'application/x-www-form-urlencoded';
const JSON_TYPE = 'application/json';

function formText(entries: Array<[string, string]>): string {
  const params = new URLSearchParams();
  for (const [k, v] of entries) params.append(k, v);
  return params.toString();
}

/** A JSON object with exactly these own keys, "__proto__" included. */
function jsonText(entries: Array<[string, unknown]>): string {
  const object: Record<string, unknown> = {};
  for (const [k, v] of entries)
    Object.defineProperty(object, k, { value: v, enumerable: true, writable: true, configurable: true });
  return JSON.stringify(object);
}

/** The random parameters: well-known names (and prototype names) or any name, with any string values. */
function fuzzedParams<V>(names: fc.Arbitrary<string>, values: fc.Arbitrary<V>): fc.Arbitrary<Array<[string, V]>> {
  return fc.dictionary(names, values, { maxKeys: 12 }).map((d) => Object.entries(d));
}

/** Anything: random parameters, raw text, any JSON value, no body at all. */
function chaoticBody(m: Material): fc.Arbitrary<Body> {
  const names = fc.oneof(fc.constantFrom(...PARAM_NAMES), fc.string());
  const form = fuzzedParams(names, paramValue(m)).map((entries) => ({
    text: formText(entries),
    matchingType: FORM_TYPE,
  }));
  const jsonObject = fuzzedParams(names, fc.oneof(paramValue(m), fc.jsonValue({ maxDepth: 3 }))).map((entries) => ({
    text: jsonText(entries),
    matchingType: JSON_TYPE,
  }));
  const jsonValue = fc.jsonValue().map((v) => ({ text: JSON.stringify(v) ?? 'null', matchingType: JSON_TYPE }));
  const raw = fc
    .oneof(fc.string(), fc.string({ unit: 'binary' }), fc.string({ maxLength: 20000, size: 'max' }), anyCodeUnits)
    .map((text) => ({ text, matchingType: FORM_TYPE }));
  return fc.oneof(
    { weight: 4, arbitrary: form },
    { weight: 3, arbitrary: jsonObject },
    { weight: 1, arbitrary: jsonValue },
    { weight: 1, arbitrary: raw },
    { weight: 1, arbitrary: fc.constant(undefined) },
  );
}

/** A request the endpoint would accept, as parameters and headers, for the near-valid half of the run. */
interface ValidRequest {
  params: Record<string, string>;
  headers?: Record<string, string>;
}

interface HostileRequest {
  method: string;
  path: string;
  body: Body;
  /** 'match' sends the body's own type; undefined sends none. */
  contentType: string | undefined;
  headers: Record<string, string>;
}

function randomHeaders(m: Material, withAuthorization: boolean) {
  return fc.record(
    {
      ...(withAuthorization && { authorization: authorization(m) }),
      'x-request-id': fc.oneof(headerString(200), fc.uuid()),
      'user-agent': headerString(600),
      'if-none-match': fc.oneof(headerString(), fc.constantFrom('*', 'W/"x"', '"x", *')),
      'x-forwarded-for': fc.oneof(fc.ipV4(), fc.ipV6(), headerString()),
      origin: fc.oneof(fc.webUrl(), headerString()),
      accept: fc.oneof(fc.constantFrom('application/json', 'text/html', '*/*'), headerString()),
    },
    { requiredKeys: [] },
  ) as fc.Arbitrary<Record<string, string>>;
}

/** Random method, body, content type and headers. */
function chaoticRequest(
  m: Material,
  path: fc.Arbitrary<string>,
  methods: fc.Arbitrary<string>,
): fc.Arbitrary<HostileRequest> {
  const contentType = fc.oneof(
    { weight: 5, arbitrary: fc.constant('match') },
    { weight: 2, arbitrary: fc.constantFrom(...CONTENT_TYPES) },
    { weight: 1, arbitrary: headerString(60) },
    { weight: 1, arbitrary: fc.constant(undefined) },
  );
  return fc.record({ method: methods, path, body: chaoticBody(m), contentType, headers: randomHeaders(m, true) });
}

/**
 * A request the endpoint would accept (real client credentials, real tokens), with one to three
 * parameters replaced, added or removed: this is what reaches the grants, the token verifier,
 * the stores and the throttle, where random bytes at the envelope never get.
 */
function nearlyValidRequest(m: Material, path: string, valid: ValidRequest[]): fc.Arbitrary<HostileRequest> {
  return fc.constantFrom(...valid).chain((v) => {
    // Mostly the parameters the request already has (that is where the code looks), sometimes others.
    const names = fc.oneof(
      { weight: 3, arbitrary: fc.constantFrom(...Object.keys(v.params)) },
      { weight: 1, arbitrary: fc.constantFrom(...PARAM_NAMES) },
    );
    const changes = fc.dictionary(names, fc.option(paramValue(m), { nil: undefined, freq: 6 }), {
      minKeys: 1,
      maxKeys: 3,
    });
    return fc
      .record({
        changes,
        json: fc.boolean(),
        headers: randomHeaders(m, false),
        replaceAuthorization: fc.option(authorization(m), { nil: undefined, freq: 5 }),
      })
      .map(({ changes: c, json, headers, replaceAuthorization }): HostileRequest => {
        const entries: Array<[string, string]> = Object.entries(v.params).filter(([k]) => !Object.hasOwn(c, k));
        for (const [k, value] of Object.entries(c)) if (value !== undefined) entries.push([k, value]);
        const auth = replaceAuthorization ?? v.headers?.Authorization;
        return {
          method: 'POST',
          path,
          body: json
            ? { text: jsonText(entries), matchingType: JSON_TYPE }
            : { text: formText(entries), matchingType: FORM_TYPE },
          contentType: 'match',
          headers: { ...headers, ...(auth !== undefined && { authorization: auth }) },
        };
      });
  });
}

async function send(server: http.Server, r: HostileRequest): Promise<Response> {
  const agent = request(server);
  let req = (agent as unknown as Record<string, (path: string) => request.Test>)
    [r.method.toLowerCase()](r.path)
    .timeout(RESPONSE_TIMEOUT)
    .ok(() => true);
  req = req.set(r.headers);
  if (r.method === 'GET' || r.method === 'HEAD') {
    // Bodies on GET are legal but unusual; send one only sometimes (when there is a type for it).
    if (r.body && r.contentType !== undefined)
      req = req.set('Content-Type', r.contentType === 'match' ? r.body.matchingType : r.contentType).send(r.body.text);
    return req;
  }
  if (r.body === undefined) return req;
  if (r.contentType === undefined) return req.send(Buffer.from(r.body.text, 'utf8'));
  return req.set('Content-Type', r.contentType === 'match' ? r.body.matchingType : r.contentType).send(r.body.text);
}

describe.each(backends())('hostile input on $name', (backend) => {
  let stack: TestStack;
  let f: Fixtures;
  let server: http.Server;
  let rs: { id: string; secret: string };
  let material: Material;
  let prototypeBefore: string[];

  beforeAll(async () => {
    prototypeBefore = prototypeSnapshot();
    // Generous throttle limits: the run fails logins by the dozen, and later cases log alice in.
    stack = await openStack(backend, {
      AUTHD_REGISTRATION: 'true',
      AUTHD_LOGIN_MAX_FAILURES: '1000',
      AUTHD_LOGIN_MAX_FAILURES_PER_USER: '100000',
      AUTHD_LOGIN_MAX_FAILURES_PER_IP: '100000',
    });
    f = await seed(stack);
    const created = await stack.services.clientService.create({
      id: 'resource-server',
      name: 'RS',
      confidential: true,
      canIntrospect: true,
      grantTypes: [],
      audience: 'https://api.test',
    });
    rs = { id: 'resource-server', secret: created.secret! };
    server = http.createServer(f.app);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const login = await passwordLogin(f.app);
    const cc = await token(
      f.app,
      { grant_type: 'client_credentials' },
      { Authorization: basic(f.machine.id, f.machine.secret) },
    );
    material = {
      kid: stack.services.ring.signingKey().kid,
      clients: [
        { id: 'web' },
        { id: 'backend', secret: f.backend.secret },
        { id: 'machine', secret: f.machine.secret },
        rs,
        { id: 'third-party', secret: f.thirdParty.secret },
      ],
      tokens: [login.body.access_token, login.body.refresh_token, cc.body.access_token],
    };
  });
  afterAll(async () => {
    if (server) await new Promise((resolve) => server.close(resolve));
    await stack?.close();
  });

  /** POST a form body to the listening server. */
  const form = (path: string, params: Record<string, string>, headers: Record<string, string> = {}) =>
    request(server).post(path).type('form').set(headers).send(params);

  describe('property: every endpoint answers any request in time, below 500, in the OAuth error shape, leaking nothing', () => {
    const post = fc.oneof(
      { weight: 8, arbitrary: fc.constant('POST') },
      { weight: 1, arbitrary: fc.constantFrom('GET', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD') },
    );
    const get = fc.oneof(
      { weight: 8, arbitrary: fc.constant('GET') },
      { weight: 1, arbitrary: fc.constantFrom('HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS') },
    );
    const query = fc.oneof(
      fc.constant(''),
      fc.dictionary(fc.string(), fc.string()).map((q) => `?${new URLSearchParams(q).toString()}`),
    );
    const unknownPath = fc.oneof(
      fc
        .array(fc.string({ unit: 'binary' }), { minLength: 1, maxLength: 4 })
        .map((segments) => '/' + segments.map(encodeURIComponent).join('/')),
      fc.constantFrom(
        '/%',
        '/%zz',
        '/..%2f..%2fetc%2fpasswd',
        '//oauth/token',
        '/oauth/token/',
        '/oauth/TOKEN',
        '/.well-known/',
        '/register/x',
        '/%00',
        '/health/ready/../live',
      ),
    );
    /** [label, the chaotic request, and for POST endpoints the valid requests to start the near-valid half from] */
    const endpoints: Array<[string, () => fc.Arbitrary<string>, fc.Arbitrary<string>, () => ValidRequest[]]> = [
      [
        'POST /oauth/token',
        () => fc.constant('/oauth/token'),
        post,
        (): ValidRequest[] => [
          {
            params: {
              grant_type: 'password',
              client_id: 'web',
              username: 'alice@example.com',
              password: PASSWORD,
              scope: 'read',
            },
          },
          {
            params: { grant_type: 'password', username: 'alice@example.com', password: PASSWORD },
            headers: { Authorization: basic(f.backend.id, f.backend.secret) },
          },
          { params: { grant_type: 'refresh_token', client_id: 'web', refresh_token: material.tokens[1] } },
          {
            params: { grant_type: 'client_credentials', scope: 'invoices:read' },
            headers: { Authorization: basic(f.machine.id, f.machine.secret) },
          },
          { params: { grant_type: 'client_credentials', client_id: f.machine.id, client_secret: f.machine.secret } },
        ],
      ],
      [
        'POST /oauth/revoke',
        () => fc.constant('/oauth/revoke'),
        post,
        (): ValidRequest[] => [
          { params: { client_id: 'web', token: material.tokens[0], token_type_hint: 'access_token' } },
          { params: { token: material.tokens[2] }, headers: { Authorization: basic(f.machine.id, f.machine.secret) } },
        ],
      ],
      [
        'POST /oauth/introspect',
        () => fc.constant('/oauth/introspect'),
        post,
        (): ValidRequest[] => [
          { params: { token: material.tokens[0] }, headers: { Authorization: basic(rs.id, rs.secret) } },
          {
            params: {
              client_id: rs.id,
              client_secret: rs.secret,
              token: material.tokens[2],
              token_type_hint: 'access_token',
            },
          },
        ],
      ],
      [
        'POST /register',
        () => fc.constant('/register'),
        post,
        (): ValidRequest[] => [
          { params: { username: 'someone@example.com', password: 'a perfectly fine passphrase' } },
        ],
      ],
      ['GET /.well-known/jwks.json', () => query.map((q) => '/.well-known/jwks.json' + q), get, () => []],
      [
        'GET /.well-known/openid-configuration',
        () => query.map((q) => '/.well-known/openid-configuration' + q),
        get,
        () => [],
      ],
      ['GET /health/ready', () => query.map((q) => '/health/ready' + q), get, () => []],
      ['an unknown path', () => fc.tuple(unknownPath, query).map(([p, q]) => p + q), post, () => []],
    ];

    it.each(endpoints)(
      '%s',
      async (label, path, methods, valid) => {
        const chaotic = chaoticRequest(material, path(), methods);
        const requests =
          valid().length === 0
            ? chaotic
            : fc.oneof(chaotic, nearlyValidRequest(material, label.split(' ')[1], valid()));
        await fc.assert(
          fc.asyncProperty(requests, async (r) => {
            const res = await send(server, r);
            expectSaneAnswer(res, r.method);
          }),
          { numRuns: NUM_RUNS },
        );
        expect(({} as Record<string, unknown>).polluted).toBeUndefined();
        expect(prototypeSnapshot()).toEqual(prototypeBefore);
      },
      Math.max(60_000, NUM_RUNS * 400),
    );

    it('leaves the stores up: the readiness check still passes afterwards', async () => {
      const res = await request(server).get('/health/ready');
      expect(res.status).toBe(200);
    });
  });

  describe('prototype pollution attempts', () => {
    afterEach(() => {
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
      expect(Object.prototype).not.toHaveProperty('polluted');
      expect(prototypeSnapshot()).toEqual(prototypeBefore);
    });

    it.each(['/oauth/token', '/oauth/revoke', '/oauth/introspect', '/register'])(
      'a JSON __proto__ object at %s: 4xx, nothing polluted',
      async (path) => {
        const res = await request(server)
          .post(path)
          .type('json')
          .send('{"__proto__": {"polluted": true}, "grant_type": "password"}');
        expect(res.status).toBeGreaterThanOrEqual(400);
        expect(res.status).toBeLessThan(500);
        expect(res.body).toEqual({
          error: 'invalid_request',
          error_description: 'The __proto__ parameter must be a string.',
        });
      },
    );

    it.each(['/oauth/token', '/oauth/revoke', '/oauth/introspect', '/register'])(
      'a form body __proto__[polluted]=1 at %s: 4xx, nothing polluted',
      async (path) => {
        const res = await request(server).post(path).type('form').send('__proto__[polluted]=1');
        expect(res.status).toBeGreaterThanOrEqual(400);
        expect(res.status).toBeLessThan(500);
        expectSaneAnswer(res, 'POST');
      },
    );

    it('a JSON constructor.prototype object on the password grant: 400, nothing polluted', async () => {
      const res = await request(server)
        .post('/oauth/token')
        .type('json')
        .send(
          '{"grant_type":"password","client_id":"web","username":"alice@example.com","password":"x","constructor":{"prototype":{"polluted":true}}}',
        );
      expect(res.status).toBe(400);
      expect(res.body.error).toBe('invalid_request');
    });
  });

  describe('control characters', () => {
    const webLogin = { grant_type: 'password', client_id: 'web', username: 'alice@example.com', password: PASSWORD };

    it.each([
      ['username', { username: 'alice@example.com\u0000' }],
      ['username', { username: 'ali\u0001ce@example.com' }],
      ['username', { username: 'alice@example.com\u001b[2J' }],
      ['username', { username: 'alice@example.com\u007f' }],
      ['scope', { scope: 'read\u0000' }],
      ['scope', { scope: 'read\nwrite' }],
      ['scope', { scope: 'read\u0007' }],
    ])('in %s: 400 invalid_request (%j)', async (_name, override) => {
      const res = await form('/oauth/token', { ...webLogin, ...override });
      expect(res.status).toBe(400);
      expect(res.body).toEqual({ error: 'invalid_request', error_description: expect.any(String) });
    });

    // RFC 6749 Appendix A.1: client-id = *VSCHAR (%x20-7E), so no client has such an id. authd answers
    // as for any unknown client (token-endpoint.test.ts pins 401 invalid_client); what matters here is
    // that the id never reaches the database (PostgreSQL refuses NUL in text: that was a 500).
    it.each([
      ['/oauth/token', 'NUL', 'web\u0000'],
      ['/oauth/token', 'ESC', 'web\u001b'],
      ['/oauth/revoke', 'NUL', 'web\u0000'],
      ['/oauth/introspect', 'SOH', 'resource-server\u0001'],
    ])('in client_id at %s (%s): refused as an unknown client, never 500', async (path, _label, clientId) => {
      const res = await request(server)
        .post(path)
        .type('form')
        .send({ ...webLogin, token: 'x', client_id: clientId });
      expect(res.status).toBe(401);
      expect(res.body).toEqual({ error: 'invalid_client', error_description: 'Client authentication failed.' });
    });

    it.each(['/oauth/token', '/oauth/revoke', '/oauth/introspect'])(
      'in a client id inside Basic credentials at %s: 401 invalid_client, never 500',
      async (path) => {
        const res = await request(server)
          .post(path)
          .type('form')
          .set('Authorization', 'Basic ' + Buffer.from('resource-server\u0000:secret').toString('base64'))
          .send({ grant_type: 'client_credentials', token: 'x' });
        expect(res.status).toBe(401);
        expect(res.body).toEqual({ error: 'invalid_client', error_description: 'Client authentication failed.' });
      },
    );
  });

  describe('sizes', () => {
    it('refuses a 600-character username with 400 invalid_request', async () => {
      const res = await form('/oauth/token', {
        grant_type: 'password',
        client_id: 'web',
        username: `${'a'.repeat(588)}@example.com`,
        password: PASSWORD,
      });
      expect(res.status).toBe(400);
      expect(res.body).toEqual({ error: 'invalid_request', error_description: 'The username parameter is too long.' });
    });

    it('refuses to register a 600-character username with 400 invalid_request', async () => {
      const res = await request(server)
        .post('/register')
        .type('form')
        .send({ username: `${'a'.repeat(588)}@example.com`, password: 'a perfectly fine passphrase' });
      expect(res.status).toBe(400);
      expect(res.body).toEqual({ error: 'invalid_request', error_description: expect.any(String) });
    });

    it.each(['/oauth/token', '/oauth/revoke', '/oauth/introspect', '/register'])(
      'answers 413 in the OAuth shape to a 16 kB+ form or JSON body at %s',
      async (path) => {
        const padding = 'x'.repeat(16 * 1024 + 1);
        const form = await request(server).post(path).type('form').send({ grant_type: 'password', padding });
        const json = await request(server).post(path).type('json').send({ grant_type: 'password', padding });
        for (const res of [form, json]) {
          expect(res.status).toBe(413);
          expect(res.body).toEqual({ error: 'invalid_request', error_description: 'The request body is too large.' });
        }
      },
    );

    it('answers a 9000-character refresh_token with 400, never 500', async () => {
      const res = await form('/oauth/token', {
        grant_type: 'refresh_token',
        client_id: 'web',
        refresh_token: 'a'.repeat(9000),
      });
      expect(res.status).toBe(400);
      expect(['invalid_request', 'invalid_grant']).toContain(res.body.error);
      expect(Object.keys(res.body).sort()).toEqual(['error', 'error_description']);
    });

    it('answers a 9000-character token at introspection with active:false (or 400), and at revocation with 200 (or 400), never 500', async () => {
      const introspect = await form(
        '/oauth/introspect',
        { token: 'a'.repeat(9000) },
        { Authorization: basic(rs.id, rs.secret) },
      );
      if (introspect.status === 200) expect(introspect.body).toEqual({ active: false });
      else
        expect({ status: introspect.status, error: introspect.body.error }).toEqual({
          status: 400,
          error: 'invalid_request',
        });
      const revoke = await form('/oauth/revoke', { client_id: 'web', token: 'a'.repeat(9000) });
      if (revoke.status !== 200)
        expect({ status: revoke.status, error: revoke.body.error }).toEqual({ status: 400, error: 'invalid_request' });
    });

    it('treats a token of exactly 8192 characters as a token: invalid_grant, active:false, revocation 200', async () => {
      const { body: login } = await passwordLogin(f.app);
      const long = (t: string) => t + 'A'.repeat(8192 - t.length);
      const refreshed = await form('/oauth/token', {
        grant_type: 'refresh_token',
        client_id: 'web',
        refresh_token: long(login.refresh_token),
      });
      expect(refreshed.status).toBe(400);
      expect(refreshed.body).toEqual(INVALID_REFRESH);
      const introspected = await request(server)
        .post('/oauth/introspect')
        .type('form')
        .set('Authorization', basic(rs.id, rs.secret))
        .send({ token: long(login.access_token) });
      expect(introspected.status).toBe(200);
      expect(introspected.body).toEqual({ active: false });
      const revoked = await request(server)
        .post('/oauth/revoke')
        .type('form')
        .send({ client_id: 'web', token: long(login.access_token) });
      expect(revoked.status).toBe(200);
    });
  });

  describe('request bodies that fail to decode', () => {
    it.each(['gzip', 'deflate'])(
      'answers a body declared %s but not compressed with 400 in the OAuth shape, not 500',
      async (encoding) => {
        const res = await request(server)
          .post('/oauth/token')
          .set('Content-Type', 'application/json')
          .set('Content-Encoding', encoding)
          .send('{"grant_type":"password"}');
        expect(res.status).toBeGreaterThanOrEqual(400);
        expect(res.status).toBeLessThan(500);
        expectSaneAnswer(res, 'POST');
      },
    );
  });

  describe('forged JWTs', () => {
    /** A forgery: given the real token's header and payload segment and the stack's keys, a token to present. */
    type Forge = (parts: {
      kid: string;
      typ: string;
      payload: string;
      original: string;
      privateKey: crypto.KeyObject;
      publicKey: crypto.KeyObject;
      jwks: Record<string, unknown>;
    }) => string;

    const attacker = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
    const attackerJwk = attacker.publicKey.export({ format: 'jwk' });

    const forgeries: Array<[string, Forge]> = [
      ['alg none, no signature', ({ kid, typ, payload }) => `${b64url({ alg: 'none', typ, kid })}.${payload}.`],
      [
        'alg none, the original signature kept',
        ({ kid, typ, payload, original }) =>
          `${b64url({ alg: 'none', typ, kid })}.${payload}.${original.split('.')[2]}`,
      ],
      ['alg NONE', ({ kid, typ, payload }) => `${b64url({ alg: 'NONE', typ, kid })}.${payload}.`],
      [
        'HS256 keyed with the public key as PEM text',
        ({ kid, typ, payload, publicKey }) =>
          signHs256({ alg: 'HS256', typ, kid }, payload, publicKey.export({ type: 'spki', format: 'pem' }) as string),
      ],
      [
        'HS256 keyed with the public key as PKCS#1 PEM text',
        ({ kid, typ, payload, publicKey }) =>
          signHs256({ alg: 'HS256', typ, kid }, payload, publicKey.export({ type: 'pkcs1', format: 'pem' }) as string),
      ],
      [
        'HS256 keyed with the published JWK as JSON',
        ({ kid, typ, payload, jwks }) => signHs256({ alg: 'HS256', typ, kid }, payload, JSON.stringify(jwks)),
      ],
      [
        'a kid of ../../keys/x (signed with the right key)',
        ({ typ, payload, privateKey }) => signRs256({ alg: 'RS256', typ, kid: '../../keys/x' }, payload, privateKey),
      ],
      [
        'a kid of ../../etc/passwd (signed with the right key)',
        ({ typ, payload, privateKey }) =>
          signRs256({ alg: 'RS256', typ, kid: '../../etc/passwd' }, payload, privateKey),
      ],
      [
        "an unknown kid of 43 a's (signed with the right key)",
        ({ typ, payload, privateKey }) => signRs256({ alg: 'RS256', typ, kid: 'a'.repeat(43) }, payload, privateKey),
      ],
      [
        'no kid (signed with the right key)',
        ({ typ, payload, privateKey }) => signRs256({ alg: 'RS256', typ }, payload, privateKey),
      ],
      [
        'a jku header (signed with the right key)',
        ({ kid, typ, payload, privateKey }) =>
          signRs256({ alg: 'RS256', typ, kid, jku: 'https://attacker.test/jwks.json' }, payload, privateKey),
      ],
      [
        'an x5u header (signed with the right key)',
        ({ kid, typ, payload, privateKey }) =>
          signRs256({ alg: 'RS256', typ, kid, x5u: 'https://attacker.test/cert.pem' }, payload, privateKey),
      ],
      [
        "a jwk header with the attacker's key, signed by the attacker",
        ({ kid, typ, payload }) =>
          signRs256({ alg: 'RS256', typ, kid, jwk: attackerJwk }, payload, attacker.privateKey),
      ],
      [
        'a jwk header with the real key (signed with the right key)',
        ({ kid, typ, payload, privateKey, jwks }) =>
          signRs256({ alg: 'RS256', typ, kid, jwk: jwks }, payload, privateKey),
      ],
      [
        'an x5c header (signed with the right key)',
        ({ kid, typ, payload, privateKey }) =>
          signRs256(
            { alg: 'RS256', typ, kid, x5c: ['MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA'] },
            payload,
            privateKey,
          ),
      ],
      [
        'a crit header (signed with the right key)',
        ({ kid, typ, payload, privateKey }) =>
          signRs256({ alg: 'RS256', typ, kid, crit: ['exp'], exp: 0 }, payload, privateKey),
      ],
      [
        'typ JWT (signed with the right key)',
        ({ kid, payload, privateKey }) => signRs256({ alg: 'RS256', typ: 'JWT', kid }, payload, privateKey),
      ],
      [
        'no typ (signed with the right key)',
        ({ kid, payload, privateKey }) => signRs256({ alg: 'RS256', kid }, payload, privateKey),
      ],
      [
        "signed by the attacker's key under the real kid",
        ({ kid, typ, payload }) => signRs256({ alg: 'RS256', typ, kid }, payload, attacker.privateKey),
      ],
    ];

    async function materials(jwt: string): Promise<Parameters<Forge>[0]> {
      const key = stack.services.ring.signingKey();
      const { header } = decodeJwt(jwt);
      const jwksRes = await request(server).get('/.well-known/jwks.json');
      const published = (jwksRes.body.keys as Array<Record<string, unknown>>).find((k) => k.kid === key.kid)!;
      return {
        kid: String(header.kid),
        typ: String(header.typ),
        payload: jwt.split('.')[1],
        original: jwt,
        privateKey: key.privateKey!,
        publicKey: key.publicKey,
        jwks: published,
      };
    }

    it("re-signing a real token's own header and payload reproduces it exactly (so each forgery differs only by its flaw)", async () => {
      const { body } = await passwordLogin(f.app);
      for (const jwt of [body.refresh_token as string, body.access_token as string]) {
        const m = await materials(jwt);
        expect(signRs256({ alg: 'RS256', typ: m.typ, kid: m.kid }, m.payload, m.privateKey)).toBe(jwt);
      }
    });

    describe('at the refresh grant: invalid_grant, and the real token stays unconsumed', () => {
      it.each(forgeries)('%s', async (_label, forge) => {
        const { body } = await passwordLogin(f.app);
        const forged = forge(await materials(body.refresh_token));
        expect(forged).not.toBe(body.refresh_token);
        const res = await form('/oauth/token', {
          grant_type: 'refresh_token',
          client_id: 'web',
          refresh_token: forged,
        });
        expect(res.status).toBe(400);
        expect(res.body).toEqual(INVALID_REFRESH);
        // Had the forgery rotated the family, this would be a reuse (same family, now consumed).
        const real = await form('/oauth/token', {
          grant_type: 'refresh_token',
          client_id: 'web',
          refresh_token: body.refresh_token,
        });
        expect(real.status).toBe(200);
        const [row] = await stack.services.db.query<{ n: number }>(
          'SELECT count(*)::int AS n FROM refresh_tokens WHERE session_id = $1',
          [decodeJwt(body.refresh_token).payload.sid],
        );
        expect(row.n).toBe(2);
      });
    });

    describe('at introspection: {active:false}', () => {
      it('the real access token is active (control)', async () => {
        const { body } = await passwordLogin(f.app);
        const res = await request(server)
          .post('/oauth/introspect')
          .type('form')
          .set('Authorization', basic(rs.id, rs.secret))
          .send({ token: body.access_token });
        expect(res.status).toBe(200);
        expect(res.body.active).toBe(true);
      });

      it.each(forgeries)('%s', async (_label, forge) => {
        const { body } = await passwordLogin(f.app);
        const forged = forge(await materials(body.access_token));
        const res = await request(server)
          .post('/oauth/introspect')
          .type('form')
          .set('Authorization', basic(rs.id, rs.secret))
          .send({ token: forged });
        expect(res.status).toBe(200);
        expect(res.body).toEqual({ active: false });
      });
    });
  });
});
