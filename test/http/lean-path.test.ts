import express from 'express';
import request from 'supertest';
import { OAuthError } from '../../src/errors';
import { installLeanPath } from '../../src/http/lean-path';
import { backends, openStack, type TestStack } from '../support/backends';
import { basic, seed, type Fixtures } from '../support/fixtures';

/**
 * The lean path answers exactly as express's router would: the same request through the router
 * (a trailing slash, which express's non-strict routing matches and the lean path does not) must
 * get the same status, headers and body.
 */
const comparable = (res: request.Response) => {
  const { date: _date, 'x-request-id': _id, ...headers } = res.headers;
  return { status: res.status, headers, body: res.body, text: res.text };
};

describe('the lean path, on a small express app', () => {
  function appWith(onRoute: express.RequestHandler) {
    const app = express();
    const seen: string[] = [];
    const common: express.RequestHandler[] = [
      (req, res, next) => {
        seen.push(`common ${req.get('x-probe') ?? ''}`);
        res.set('X-Common', 'yes');
        next();
      },
    ];
    for (const handler of common) app.use(handler);
    app.get('/fast', (_req, res) => {
      seen.push('router');
      res.json({ via: 'router' });
    });
    app.post('/fast', (_req, res) => {
      seen.push('router post');
      res.json({ via: 'router post' });
    });
    const onError: express.ErrorRequestHandler = (error, _req, res, _next) => {
      res
        .status(error instanceof OAuthError ? error.status : 500)
        .json({ error: error instanceof OAuthError ? error.code : 'server_error' });
    };
    app.use(onError);
    installLeanPath(app, common, [{ method: 'GET', path: '/fast', routePath: '/fast', handlers: [onRoute] }], onError);
    return { app, seen };
  }

  it('runs the common middleware, then the route, with express request and response objects', async () => {
    const { app, seen } = appWith((req, res) => {
      res.json({ via: 'lean', query: req.query, route: (req as { route?: { path: string } }).route?.path });
    });
    const res = await request(app).get('/fast?x=1').set('X-Probe', 'p');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ via: 'lean', query: { x: '1' }, route: '/fast' });
    expect(res.headers['x-common']).toBe('yes');
    expect(seen).toEqual(['common p']);
  });

  it('leaves other methods and paths to express', async () => {
    const { app, seen } = appWith((_req, res) => {
      res.json({ via: 'lean' });
    });
    expect((await request(app).post('/fast')).body).toEqual({ via: 'router post' });
    expect((await request(app).get('/fast/')).body).toEqual({ via: 'router' });
    expect(seen).toEqual(['common ', 'router post', 'common ', 'router']);
  });

  it.each([
    [
      'thrown',
      () => {
        throw new OAuthError('invalid_request', 'No.');
      },
    ],
    [
      'rejected',
      async () => {
        throw new OAuthError('invalid_request', 'No.');
      },
    ],
    [
      'passed to next',
      (_req: express.Request, _res: express.Response, next: express.NextFunction) =>
        next(new OAuthError('invalid_request', 'No.')),
    ],
  ])('sends an error %s by the route to the error handler', async (_how, handler) => {
    const { app } = appWith(handler as express.RequestHandler);
    const res = await request(app).get('/fast');
    expect(res.status).toBe(400);
    expect(res.body).toEqual({ error: 'invalid_request' });
    expect(res.headers['x-common']).toBe('yes');
  });
});

describe.each(backends())('lean and routed answers are the same on $name', (backend) => {
  let stack: TestStack;
  let f: Fixtures;
  beforeAll(async () => {
    stack = await openStack(backend, { AUTHD_CORS_ORIGINS: 'https://app.test' });
    f = await seed(stack);
  });
  afterAll(() => stack.close());

  describe.each([
    '/.well-known/jwks.json',
    '/.well-known/openid-configuration',
    '/.well-known/oauth-authorization-server',
  ])('GET %s', (path) => {
    it.each<[string, Record<string, string>]>([
      ['plain', {}],
      ['from an allowed origin', { Origin: 'https://app.test' }],
      ['from another origin', { Origin: 'https://evil.test' }],
      ['with a stale ETag', { 'If-None-Match': '"stale"' }],
    ])('%s', async (_name, headers) => {
      const lean = await request(f.app).get(path).set(headers);
      const routed = await request(f.app).get(`${path}/`).set(headers);
      expect(lean.status).toBe(200);
      expect(comparable(lean)).toEqual(comparable(routed));
    });

    it('answers a matching If-None-Match with 304, as the router does', async () => {
      const { etag } = (await request(f.app).get(path)).headers;
      expect(etag).toMatch(/^"[^"]+"$/);
      const lean = await request(f.app).get(path).set('If-None-Match', `W/${etag}`);
      const routed = await request(f.app).get(`${path}/`).set('If-None-Match', `W/${etag}`);
      expect(lean.status).toBe(304);
      expect(comparable(lean)).toEqual(comparable(routed));
    });
  });

  describe.each(['/oauth/token', '/oauth/revoke', '/oauth/introspect'])('POST %s', (path) => {
    const cases: Array<[string, (r: request.Test) => request.Test]> = [
      ['an empty body', (r) => r],
      ['a body too large (413)', (r) => r.type('form').send(`grant_type=password&padding=${'x'.repeat(20_000)}`)],
      [
        'an unsupported media type (415)',
        (r) => r.set('Content-Type', 'text/plain').send('grant_type=client_credentials'),
      ],
      ['malformed JSON', (r) => r.set('Content-Type', 'application/json').send('{"grant_type":')],
      ['too many parameters', (r) => r.type('form').send(Array.from({ length: 60 }, (_, i) => `p${i}=1`).join('&'))],
      ['a repeated parameter', (r) => r.type('form').send('grant_type=client_credentials&grant_type=password')],
      [
        'a wrong client secret (401)',
        (r) =>
          r
            .type('form')
            .set('Authorization', basic('machine', 'wrong'))
            .send({ grant_type: 'client_credentials', token: 'x' }),
      ],
      [
        'an unsupported grant type',
        (r) =>
          r
            .type('form')
            .set('Authorization', basic('machine', f.machine.secret))
            .send({ grant_type: 'urn:nope', token: 'x' }),
      ],
      [
        'from an allowed origin',
        (r) => r.type('form').set('Origin', 'https://app.test').send({ grant_type: 'password', client_id: 'web' }),
      ],
    ];
    it.each(cases)('%s', async (_name, send) => {
      const lean = await send(request(f.app).post(path));
      const routed = await send(request(f.app).post(`${path}/`));
      // The endpoint answered (revocation answers 200 to a valid client's unknown token, RFC 7009 §2.2).
      expect(lean.status).not.toBe(404);
      expect(comparable(lean)).toEqual(comparable(routed));
    });
  });

  it('issues the same kind of answer for a client_credentials grant', async () => {
    const send = (path: string) =>
      request(f.app)
        .post(path)
        .type('form')
        .set('Authorization', basic('machine', f.machine.secret))
        .send({ grant_type: 'client_credentials' });
    const lean = comparable(await send('/oauth/token'));
    const routed = comparable(await send('/oauth/token/'));
    expect(lean.status).toBe(200);
    const shape = (answer: typeof lean) => ({
      ...answer,
      headers: { ...answer.headers, 'content-length': 'n' },
      body: { ...answer.body, access_token: 'jwt' },
      text: '',
    });
    expect(shape(lean)).toEqual(shape(routed));
    expect(lean.headers['cache-control']).toBe('no-store');
  });

  it('keeps the request id it was given', async () => {
    const res = await request(f.app).get('/.well-known/jwks.json').set('X-Request-Id', 'probe-123');
    expect(res.headers['x-request-id']).toBe('probe-123');
  });
});
