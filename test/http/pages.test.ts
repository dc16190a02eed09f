import fs from 'node:fs';
import path from 'node:path';
import type { Express } from 'express';
import request from 'supertest';
import { ensureHostedPagesClient } from '../../src/hosted-pages-client';
import { backends, openStack, type TestStack } from '../support/backends';
import { PASSWORD, seed, token, type Fixtures } from '../support/fixtures';

/** The hosted sign-in and account pages over HTTP (no browser): markup, CSP, content negotiation, assets. */

type Response = request.Response;

const PAGES_DIR = path.join(__dirname, '..', '..', 'pages');
const NOT_FOUND = { error: 'invalid_request', error_description: 'Not found.' };

/** The Content-Security-Policy as a map of directive → sources. */
function csp(res: Response): Map<string, string[]> {
  const header = String(res.headers['content-security-policy'] ?? '');
  expect(header).not.toBe('');
  return new Map(
    header
      .split(';')
      .map((d) => d.trim())
      .filter(Boolean)
      .map((d) => {
        const [name, ...sources] = d.split(/\s+/);
        return [name.toLowerCase(), sources];
      }),
  );
}

/** No inline script, no inline style: what the strict CSP needs to hold. */
function expectNoInlineCode(html: string): void {
  const scripts = [...html.matchAll(/<script\b[^>]*>/gi)].map((m) => m[0]);
  expect(scripts.length).toBeGreaterThan(0);
  expect(scripts.filter((tag) => !/\ssrc="\/pages\/[\w.-]+\.js"/.test(tag))).toEqual([]);
  // Every script element is empty: <script src=…></script>.
  expect(html.match(/<script\b[^>]*>[^<]+<\/script>/gi)).toBeNull();
  expect(html).not.toMatch(/\sstyle\s*=/i);
  expect(html).not.toMatch(/<style\b/i);
  expect(html).not.toMatch(/\son[a-z]+\s*=/i);
  expect(html).not.toMatch(/javascript:/i);
}

const [embedded] = backends();

describe('hosted pages', () => {
  describe('with a brand name that needs escaping', () => {
    let stack: TestStack;
    let f: Fixtures;
    let app: Express;

    beforeAll(async () => {
      stack = await openStack(embedded, { AUTHD_BRAND_NAME: 'Acme <ID> & "Co"', AUTHD_BRAND_COLOR: '#aa3300' });
      await ensureHostedPagesClient(stack.config, stack.services);
      f = await seed(stack);
      app = f.app;
    });
    afterAll(() => stack.close());

    it('GET /login: HTML with the escaped brand name, the hosted pages client and no inline code', async () => {
      const res = await request(app).get('/login');
      expect(res.status).toBe(200);
      expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
      expect(res.headers['cache-control']).toBe('no-store');
      expect(res.text).toMatch(/^<!doctype html>/i);
      expect(res.text).toContain('<title>Sign in · Acme &#60;ID&#62; &#38; &#34;Co&#34;</title>');
      expect(res.text).toContain('<span class="brand-name">Acme &#60;ID&#62; &#38; &#34;Co&#34;</span>');
      expect(res.text).not.toContain('<ID>');
      expect(res.text).not.toContain('"Co"');
      expect(res.text).not.toContain('{{');
      expect(res.text).toContain('<body data-client-id="authd-pages">');
      expect(res.text).toContain('<script src="/pages/login.js" defer></script>');
      expectNoInlineCode(res.text);
    });

    it("sends a strict CSP: script-src 'self', no 'unsafe-inline' for scripts or styles, no framing", async () => {
      for (const page of ['/login', '/pages/login.js']) {
        const policy = csp(await request(app).get(page));
        expect(policy.get('script-src')).toEqual(["'self'"]);
        expect(policy.get('style-src')).toEqual(["'self'"]);
        expect(policy.get('default-src')).toEqual(["'self'"]);
        expect(policy.get('frame-ancestors')).toEqual(["'none'"]);
        expect(policy.get('object-src')).toEqual(["'none'"]);
        expect(policy.get('base-uri')).toEqual(["'none'"]);
        expect(policy.get('form-action')).toEqual(["'self'"]);
        for (const directive of ['script-src', 'style-src', 'default-src']) {
          expect(policy.get(directive)).not.toContain("'unsafe-inline'");
          expect(policy.get(directive)).not.toContain("'unsafe-eval'");
        }
        // Inline event handlers are refused outright.
        expect(policy.get('script-src-attr')).toEqual(["'none'"]);
        expect(policy.has('upgrade-insecure-requests')).toBe(true);
      }
      const res = await request(app).get('/login');
      expect(res.headers['x-frame-options']).toBe('SAMEORIGIN');
      expect(res.headers['x-content-type-options']).toBe('nosniff');
    });

    it('GET /account with Accept: text/html is the account page', async () => {
      const res = await request(app)
        .get('/account')
        .set('Accept', 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8');
      expect(res.status).toBe(200);
      expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
      expect(res.headers['cache-control']).toBe('no-store');
      expect(res.text).toContain('<title>Your account · Acme &#60;ID&#62; &#38; &#34;Co&#34;</title>');
      expect(res.text).toContain('<body data-client-id="authd-pages">');
      expect(res.text).toContain('<script src="/pages/account.js" defer></script>');
      expectNoInlineCode(res.text);
    });

    it('GET /account with a bearer token is the Account API (JSON), whatever the Accept header', async () => {
      const login = await token(
        app,
        { grant_type: 'password', client_id: 'authd-pages', username: f.alice.username, password: PASSWORD },
        { Origin: 'https://authd.test' },
      );
      expect(login.status).toBe(200);
      for (const accept of ['text/html', 'application/json', '*/*']) {
        const res = await request(app)
          .get('/account')
          .set({ Authorization: `Bearer ${login.body.access_token}`, Accept: accept });
        expect({ accept, status: res.status, type: res.headers['content-type'] }).toEqual({
          accept,
          status: 200,
          type: 'application/json; charset=utf-8',
        });
        expect(res.body).toEqual(expect.objectContaining({ id: f.alice.id, username: 'Alice@Example.com' }));
      }
    });

    it("GET /account without a token and without preferring HTML is the API's 401, not the page", async () => {
      for (const accept of [undefined, 'application/json', '*/*']) {
        const req = request(app).get('/account');
        const res = await (accept === undefined ? req : req.set('Accept', accept));
        expect({ accept, status: res.status, challenge: res.headers['www-authenticate'], body: res.body }).toEqual({
          accept,
          status: 401,
          challenge: 'Bearer realm="https://authd.test"',
          body: { error: 'unauthorized', error_description: 'Authentication required.' },
        });
      }
    });

    it.each([
      ['login.js', 'text/javascript; charset=utf-8'],
      ['account.js', 'text/javascript; charset=utf-8'],
      ['pages.css', 'text/css; charset=utf-8'],
    ])('serves /pages/%s as %s, byte for byte', async (file, type) => {
      const res = await request(app)
        .get(`/pages/${file}`)
        .buffer(true)
        .parse((r, done) => {
          const chunks: Buffer[] = [];
          r.on('data', (c: Buffer) => chunks.push(c));
          r.on('end', () => done(null, Buffer.concat(chunks)));
        });
      expect(res.status).toBe(200);
      expect(res.headers['content-type']).toBe(type);
      expect(res.headers['cache-control']).toBe('public, max-age=300');
      expect(res.headers['x-content-type-options']).toBe('nosniff');
      expect((res.body as Buffer).equals(fs.readFileSync(path.join(PAGES_DIR, file)))).toBe(true);
    });

    it('serves the brand colour as a stylesheet', async () => {
      const res = await request(app).get('/pages/brand.css');
      expect({ status: res.status, type: res.headers['content-type'], text: res.text }).toEqual({
        status: 200,
        type: 'text/css; charset=utf-8',
        text: ':root { --brand: #aa3300; }\n',
      });
    });

    it.each([
      ['/pages/nope.js'],
      ['/pages/login.html'],
      ['/pages/account.html'],
      ['/pages/..%2Fpackage.json'],
      ['/pages/..%2F..%2Fetc%2Fpasswd'],
      ['/pages/%2e%2e%2fsrc%2fconfig.ts'],
      ['/pages/'],
      // Names every plain object has: an asset table must not answer for them.
      ['/pages/constructor'],
      ['/pages/__proto__'],
      ['/pages/toString'],
      ['/pages/hasOwnProperty'],
    ])('%s is 404', async (url) => {
      const res = await request(app).get(url);
      expect({ status: res.status, body: res.body }).toEqual({ status: 404, body: NOT_FOUND });
    });

    it('answers /favicon.ico with 204 so browsers stop asking', async () => {
      const res = await request(app).get('/favicon.ico');
      expect({ status: res.status, text: res.text, cache: res.headers['cache-control'] }).toEqual({
        status: 204,
        text: '',
        cache: 'public, max-age=86400',
      });
    });
  });

  describe('with a logo', () => {
    let stack: TestStack;
    let app: Express;

    beforeAll(async () => {
      stack = await openStack(embedded, { AUTHD_BRAND_LOGO_URL: 'https://cdn.example.com/logo.svg?v=1&size="2"' });
      app = (await seed(stack)).app;
    });
    afterAll(() => stack.close());

    it('escapes the logo URL in the page and allows its origin (only) for images', async () => {
      const res = await request(app).get('/login');
      expect(res.text).toContain('<img src="https://cdn.example.com/logo.svg?v=1&#38;size=&#34;2&#34;" alt="">');
      expect(csp(res).get('img-src')).toEqual(["'self'", 'data:', 'https://cdn.example.com']);
      expect(csp(res).get('script-src')).toEqual(["'self'"]);
      expectNoInlineCode(res.text);
    });
  });

  describe('on a plain-http localhost issuer', () => {
    let stack: TestStack;
    let app: Express;

    beforeAll(async () => {
      stack = await openStack(embedded, { AUTHD_ISSUER: 'http://localhost:3000' });
      app = (await seed(stack)).app;
    });
    afterAll(() => stack.close());

    it('does not ask browsers to upgrade to https (the assets would not load), and the policy stays strict', async () => {
      const policy = csp(await request(app).get('/login'));
      expect(policy.has('upgrade-insecure-requests')).toBe(false);
      expect(policy.get('script-src')).toEqual(["'self'"]);
    });
  });

  describe('with AUTHD_HOSTED_PAGES=false', () => {
    let stack: TestStack;
    let app: Express;

    beforeAll(async () => {
      stack = await openStack(embedded, { AUTHD_HOSTED_PAGES: 'false' });
      app = (await seed(stack)).app;
    });
    afterAll(() => stack.close());

    it.each([['/login'], ['/pages/login.js'], ['/pages/brand.css'], ['/favicon.ico']])('%s is 404', async (url) => {
      const res = await request(app).get(url);
      expect({ status: res.status, body: res.body }).toEqual({ status: 404, body: NOT_FOUND });
    });

    it("GET /account with Accept: text/html is the API's 401 (there is no page)", async () => {
      const res = await request(app).get('/account').set('Accept', 'text/html');
      expect({ status: res.status, body: res.body }).toEqual({
        status: 401,
        body: { error: 'unauthorized', error_description: 'Authentication required.' },
      });
    });

    it('creates no hosted pages client', async () => {
      await ensureHostedPagesClient(stack.config, stack.services);
      expect(await stack.services.clients.findById('authd-pages')).toBeUndefined();
    });
  });
});
