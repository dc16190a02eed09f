import fs from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Locator, type Page } from 'playwright-core';
import { ROOT } from '../support/processes';
import { chooseIssuer, prepareBackend, startBrowserServer, type Backend, type BrowserServer } from './authd-process';
import { scaled } from '../support/timing';

/*
 * The hosted /login and /account pages in a real headless Chromium against the built server:
 * sign-in (keyboard only), the refresh token kept out of JavaScript, silent renewal of the
 * in-memory access token, sessions across two devices, password change, sign-out, lockout.
 * Runs on Postgres + Redis when DATABASE_URL and REDIS_URL are set, else on the embedded database.
 */

// AUTHD_TEST_CHROMIUM points elsewhere only to try the missing-browser path without uninstalling it.
const CHROMIUM = process.env.AUTHD_TEST_CHROMIUM || '/usr/bin/chromium';
const LAUNCH_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const SCREENSHOTS = path.join(ROOT, 'test-output', 'screenshots');
// The machine is shared with other test runs: waits are generous, they end as soon as the page is ready.
const WAIT = 20_000;

/**
 * The little of the DOM the page functions below use (the project compiles without the DOM lib).
 * Page functions, not strings: string predicates are evaluated with eval, which the pages' CSP forbids.
 */
interface InPage {
  document: {
    querySelectorAll(selector: string): { length: number };
    getElementById(id: string): { dataset: Record<string, string | undefined> } | null;
  };
}

const ALICE = { username: 'alice', password: 'correct horse battery staple' };
const ALICE_NEW_PASSWORD = 'a new and rather long passphrase';
const BOB = { username: 'bob', password: 'bob has a long password too' };

if (!fs.existsSync(CHROMIUM)) {
  describe('hosted pages in a real browser', () => {
    it('needs Chromium', () => {
      if (process.env.CI === 'true') {
        throw new Error(
          `Chromium not installed at ${CHROMIUM} (apt-get install chromium): CI=true requires the browser tests to run.`,
        );
      }
      process.stderr.write(
        '\n[authd tests] hosted pages browser tests skipped: Chromium not installed (apt-get install chromium)\n\n',
      );
    });
  });
} else {
  describe('hosted pages in a real browser (Chromium)', () => {
    jest.setTimeout(scaled(60_000));

    let backend: Backend;
    let server: BrowserServer | undefined;
    let browser: Browser | undefined;
    let url: string;
    /** pageerrors and console messages about the Content Security Policy, from every page. */
    const problems: string[] = [];

    // Shared by the steps, in order: device A (signed in in step 1), device B (step 3).
    let deviceA: BrowserContext;
    let pageA: Page;
    /** Bearer tokens page A sent to /account…, with the response status when it came. */
    const apiCalls: Array<{ method: string; path: string; token: string; status?: number }> = [];

    beforeAll(async () => {
      const started = Date.now();
      fs.mkdirSync(SCREENSHOTS, { recursive: true });
      backend = await prepareBackend();
      const { port, issuer } = await chooseIssuer();
      await backend.createUsers([ALICE, BOB], issuer);
      server = await startBrowserServer(backend.env, port);
      url = server.url;
      browser = await chromium.launch({ executablePath: CHROMIUM, args: LAUNCH_ARGS, timeout: 60_000 });
      process.stderr.write(
        `[browser tests] ${backend.name}: server and Chromium ready in ${Date.now() - started} ms\n`,
      );
    }, 120_000);

    afterAll(async () => {
      await browser?.close().catch(() => {});
      await server?.stop();
      const logged = server?.output().trim();
      if (logged) process.stderr.write(`[browser tests] server output:\n${logged}\n`);
      await backend?.cleanup();
    }, 60_000);

    afterEach(() => {
      const found = problems.splice(0); // each step answers for its own
      expect(found).toEqual([]);
    });

    async function newDevice(): Promise<BrowserContext> {
      const context = await browser!.newContext({ viewport: { width: 1000, height: 800 } });
      // Violations the console might word differently are reported in words we look for.
      await context.addInitScript(`document.addEventListener('securitypolicyviolation', (e) =>
        console.error('Content Security Policy violation: ' + e.violatedDirective + ' blocked ' + e.blockedURI));`);
      return context;
    }

    async function openPage(context: BrowserContext): Promise<Page> {
      const page = await context.newPage();
      page.setDefaultTimeout(WAIT);
      page.on('pageerror', (error) => problems.push(`pageerror on ${page.url()}: ${error.message}`));
      page.on('console', (message) => {
        if (message.text().includes('Content Security Policy'))
          problems.push(`console ${message.type()} on ${page.url()}: ${message.text()}`);
      });
      return page;
    }

    /** Waits until the element shows exactly `text`. */
    async function shows(locator: Locator, text: string): Promise<void> {
      const exact = new RegExp(`^${text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`);
      await locator.filter({ hasText: exact }).waitFor({ state: 'visible' });
      expect((await locator.textContent())?.trim()).toBe(text);
    }

    const activeId = (page: Page) => page.evaluate<string>('document.activeElement ? document.activeElement.id : ""');
    const sessionRows = (page: Page) => page.locator('#sessions tbody tr[data-session-id]');

    /** Waits until the sessions table has `count` rows (it is filled after the page has loaded). */
    async function expectSessions(page: Page, count: number): Promise<void> {
      await page.waitForFunction(
        (n) =>
          (globalThis as unknown as InPage).document.querySelectorAll('#sessions tbody tr[data-session-id]').length ===
          n,
        count,
        { timeout: WAIT },
      );
      expect(await sessionRows(page).count()).toBe(count);
      const current = sessionRows(page).locator('td.current');
      expect(await current.count()).toBe(1);
      expect(await sessionRows(page).locator('td:first-child.current').count()).toBe(1); // on the first cell
      // Named as people say it (from the user agent), not as the raw string.
      expect(await current.first().textContent()).toMatch(/^Chrome on Linux \(this device\)$/);
      for (const cell of await sessionRows(page).locator('td:first-child:not(.current)').all()) {
        expect(await cell.textContent()).not.toContain('(this device)');
      }
    }

    /** The session ids listed, once the table is filled (the current session is always in it). */
    async function sessionIds(page: Page): Promise<string[]> {
      await sessionRows(page).locator('td.current').waitFor();
      return Promise.all(
        (await sessionRows(page).all()).map(async (row) => (await row.getAttribute('data-session-id'))!),
      );
    }

    const currentSessionId = async (page: Page) => {
      await sessionRows(page).locator('td.current').waitFor();
      return (await sessionRows(page)
        .filter({ has: page.locator('td.current') })
        .getAttribute('data-session-id'))!;
    };

    /** Fills and submits the sign-in form; resolves once the account page shows the user. */
    async function signIn(page: Page, user: { username: string; password: string }): Promise<void> {
      await page.goto(`${url}/login`);
      await page.fill('#username', user.username);
      await page.fill('#password', user.password);
      await Promise.all([page.waitForURL(`${url}/account`), page.click('#submit')]);
      await shows(page.locator('#username'), user.username);
    }

    const SENT_TO_SIGN_IN = /\/login\?return_to=(\/|%2F)account$/;

    /**
     * Opens /account on a page whose session has ended and waits for the page's own script to send
     * it to /login. `commit` rather than `load`: the script may redirect before the load event, and
     * `goto` would then report the navigation as interrupted.
     */
    async function expectSentToSignIn(page: Page): Promise<void> {
      await page.goto(`${url}/account`, { waitUntil: 'commit' });
      await page.waitForURL(SENT_TO_SIGN_IN);
    }

    const refreshCookie = async (context: BrowserContext) =>
      (await context.cookies()).find((c) => c.name === 'authd_rt');
    const jwtExp = (token: string) =>
      (JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString()) as { exp: number }).exp;

    it('1. signs in with the keyboard; the refresh token stays in an httpOnly cookie', async () => {
      deviceA = await newDevice();
      pageA = await openPage(deviceA);
      pageA.on('request', (request) => {
        const { pathname } = new URL(request.url());
        const auth = request.headers().authorization;
        if (pathname.startsWith('/account') && auth)
          apiCalls.push({ method: request.method(), path: pathname, token: auth.replace(/^Bearer /, '') });
      });
      pageA.on('response', (response) => {
        const request = response.request();
        const call = apiCalls.find(
          (c) =>
            c.status === undefined &&
            request.headers().authorization === `Bearer ${c.token}` &&
            new URL(request.url()).pathname === c.path,
        );
        if (call) call.status = response.status();
      });

      await pageA.goto(`${url}/login`);
      expect(await pageA.title()).toBe('Sign in · authd');
      await pageA.screenshot({ path: path.join(SCREENSHOTS, 'login.png'), fullPage: true });

      // Keyboard only: Tab to the username, type, Tab to the password, Enter submits.
      await pageA.keyboard.press('Tab');
      expect(await activeId(pageA)).toBe('username');
      await pageA.keyboard.type(ALICE.username);
      await pageA.keyboard.press('Tab');
      expect(await activeId(pageA)).toBe('password');
      await pageA.keyboard.type('not the password');
      const refused = pageA.waitForResponse((r) => r.url() === `${url}/oauth/token`);
      await pageA.keyboard.press('Enter');
      expect((await refused).status()).toBe(400);
      await shows(pageA.locator('#message'), 'Wrong username or password.');
      expect(await pageA.getAttribute('#message', 'role')).toBe('alert');
      // The password is cleared and focused for the next try.
      expect(await pageA.inputValue('#password')).toBe('');
      expect(await activeId(pageA)).toBe('password');
      expect(pageA.url()).toBe(`${url}/login`);

      await pageA.keyboard.type(ALICE.password);
      const granted = pageA.waitForResponse((r) => r.url() === `${url}/oauth/token`);
      await Promise.all([pageA.waitForURL(`${url}/account`), pageA.keyboard.press('Enter')]);
      expect((await granted).status()).toBe(200);

      await shows(pageA.locator('#username'), ALICE.username);
      await expectSessions(pageA, 1);

      // Nothing for JavaScript: no readable cookie, nothing in web storage…
      expect(await pageA.evaluate<string>('document.cookie')).not.toContain('authd_rt');
      expect(await pageA.evaluate<number>('localStorage.length + sessionStorage.length')).toBe(0);
      // …not even on a page under the cookie's own path (/oauth), where it would be sent.
      const probe = await openPage(deviceA);
      await probe.goto(`${url}/oauth/token`);
      expect(await probe.evaluate<string>('document.cookie')).not.toContain('authd_rt');
      expect(await probe.evaluate<number>('localStorage.length + sessionStorage.length')).toBe(0);
      // What page JavaScript gets from the token endpoint (login.js navigates away before its body can
      // be inspected, so the probe asks the way account.js does): an access token, no refresh token.
      const answer = await probe.evaluate<{ status: number; keys: string[] }>(`fetch('/oauth/token', {
        method: 'POST', credentials: 'same-origin', headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: 'refresh_token', client_id: 'authd-pages' }),
      }).then(async (r) => ({ status: r.status, keys: Object.keys(await r.json()) }))`);
      expect(answer.status).toBe(200);
      expect(answer.keys).toContain('access_token');
      expect(answer.keys).not.toContain('refresh_token');
      await probe.close();
      // …while the browser holds it.
      expect(await refreshCookie(deviceA)).toMatchObject({
        name: 'authd_rt',
        httpOnly: true,
        sameSite: 'Strict',
        path: '/oauth',
        domain: 'localhost',
        secure: false,
      });
    });

    it('2. renews the access token silently; the API still answers after the first token expired', async () => {
      const refreshes = () =>
        pageA.evaluate<number>("Number(document.getElementById('token-status').dataset.refreshes)");
      expect(await refreshes()).toBeGreaterThanOrEqual(1);
      const started = Date.now();
      await pageA.waitForFunction(
        () => Number((globalThis as unknown as InPage).document.getElementById('token-status')!.dataset.refreshes) >= 2,
        undefined,
        { timeout: 25_000, polling: 200 },
      );
      process.stderr.write(`[browser tests] second silent refresh after ${Date.now() - started} ms\n`);
      // Renewal is silent: nothing a reader has to make sense of.
      expect(await pageA.textContent('#token-status')).toBe('');

      // The first access token the page used (for GET /account) must be past its expiry.
      const first = apiCalls.find((c) => c.method === 'GET' && c.path === '/account');
      expect(first).toBeDefined();
      const firstExp = jwtExp(first!.token);
      const wait = firstExp * 1000 + 1000 - Date.now();
      if (wait > 0) await pageA.waitForTimeout(wait);

      await pageA.fill('#current-password', 'not my password');
      await pageA.fill('#new-password', 'whatever new password');
      const answered = pageA.waitForResponse((r) => r.url() === `${url}/account/password`);
      await pageA.click('#password-form button[type=submit]');
      expect((await answered).status()).toBe(400);
      await shows(pageA.locator('#password-message'), 'The current password is wrong.');

      // Sent with a renewed token, accepted at the first try (no 401 and retry).
      const calls = apiCalls.filter((c) => c.path === '/account/password');
      expect(calls).toHaveLength(1);
      expect(calls[0].token).not.toBe(first!.token);
      expect(jwtExp(calls[0].token)).toBeGreaterThan(firstExp);
      expect(apiCalls.filter((c) => c.status === 401)).toEqual([]);
    }, 60_000);

    it('3. a second device: two sessions; a password change signs the other one out', async () => {
      const deviceB = await newDevice();
      const pageB = await openPage(deviceB);
      await signIn(pageB, ALICE);
      await expectSessions(pageB, 2);

      await pageA.reload();
      await shows(pageA.locator('#username'), ALICE.username);
      await expectSessions(pageA, 2);
      await pageA.screenshot({ path: path.join(SCREENSHOTS, 'account.png'), fullPage: true });

      await pageA.fill('#current-password', ALICE.password);
      await pageA.fill('#new-password', ALICE_NEW_PASSWORD);
      await pageA.click('#password-form button[type=submit]');
      await shows(pageA.locator('#password-message'), 'Password changed. 1 other session(s) signed out.');
      await expectSessions(pageA, 1);
      expect(await pageA.inputValue('#current-password')).toBe('');

      // Device B's refresh cookie no longer works: /account sends it to the sign-in page.
      await expectSentToSignIn(pageB);
      await pageB.locator('#login-form').waitFor();
    });

    it('4. signs out of this device; /account then leads to /login', async () => {
      const cookie = await refreshCookie(deviceA);
      expect(cookie).toBeDefined();
      const revoked = pageA.waitForResponse((r) => r.url() === `${url}/oauth/revoke`);
      await Promise.all([pageA.waitForURL(SENT_TO_SIGN_IN), pageA.click('#logout')]);
      expect((await revoked).status()).toBe(200);
      expect(await refreshCookie(deviceA)).toBeUndefined();

      await expectSentToSignIn(pageA);
      await pageA.locator('#login-form').waitFor();

      // Revoked on the server too, not only forgotten by the browser: the old cookie leads to /login as well.
      await deviceA.addCookies([cookie!]);
      const refused = pageA.waitForResponse((r) => r.url() === `${url}/oauth/token`);
      await expectSentToSignIn(pageA);
      expect((await refused).status()).toBe(400);
    });

    it('5. locks the sign-in after 5 wrong passwords', async () => {
      const page = await openPage(await newDevice());
      await page.goto(`${url}/login`);
      await page.fill('#username', BOB.username);
      const statuses: number[] = [];
      for (let attempt = 1; attempt <= 6; attempt += 1) {
        await page.fill('#password', `wrong password ${attempt}`);
        const answered = page.waitForResponse((r) => r.url() === `${url}/oauth/token`);
        await page.press('#password', 'Enter');
        statuses.push((await answered).status());
        // The message is hidden while the request runs and shown again with the answer.
        if (attempt <= 5) {
          await shows(page.locator('#message'), 'Wrong username or password.');
        } else {
          // The lock started at the 5th attempt and the wait is rounded up: 60 s, or 59 on a slow machine.
          await page
            .locator('#message')
            .filter({ hasText: /^Too many failed attempts\. Try again in (59|60) seconds\.$/ })
            .waitFor({ state: 'visible' });
        }
      }
      expect(statuses).toEqual([400, 400, 400, 400, 400, 429]);
      expect(page.url()).toBe(`${url}/login`);
    });

    it('6. saved screenshots of the login and account pages', () => {
      for (const name of ['login.png', 'account.png']) {
        const png = fs.readFileSync(path.join(SCREENSHOTS, name));
        expect(png.subarray(1, 4).toString()).toBe('PNG');
        expect(png.readUInt32BE(16)).toBe(1000); // width of the viewport
      }
    });

    // Found with the account screenshot: pages.css gives every input `display: block`, which beats the
    // browser's `[hidden] { display: none }`, so the username hint for password managers
    // (<input id="password-username" hidden>) shows as an unlabeled, focusable text box.
    it('7. elements marked hidden are not rendered (login and account pages)', async () => {
      const context = await newDevice();
      const login = await openPage(context);
      await login.goto(`${url}/login`);
      const account = await openPage(context);
      await signIn(account, { username: ALICE.username, password: ALICE_NEW_PASSWORD });
      await expectSessions(account, 1);
      const shown: string[] = [];
      for (const page of [login, account]) {
        for (const element of await page.locator('[hidden]').all()) {
          if (await element.isVisible())
            shown.push(`${new URL(page.url()).pathname} #${await element.getAttribute('id')}`);
        }
      }
      expect(shown).toEqual([]);
    });

    it('8. signs another session out from the list, then everywhere', async () => {
      const mine = await openPage(await newDevice());
      const other = await openPage(await newDevice());
      await signIn(other, { username: ALICE.username, password: ALICE_NEW_PASSWORD });
      await signIn(mine, { username: ALICE.username, password: ALICE_NEW_PASSWORD });
      const otherId = await currentSessionId(other);
      const before = await sessionIds(mine);
      expect(before).toContain(otherId);

      const deleted = mine.waitForResponse((r) => r.request().method() === 'DELETE');
      await mine.click(`#sessions tbody tr[data-session-id="${otherId}"] button`);
      expect((await deleted).status()).toBe(204);
      await expectSessions(mine, before.length - 1);
      expect(await sessionIds(mine)).not.toContain(otherId);
      await expectSentToSignIn(other);

      // Another session, then "Sign out everywhere" ends it and this one.
      const third = await openPage(await newDevice());
      await signIn(third, { username: ALICE.username, password: ALICE_NEW_PASSWORD });
      const everywhere = mine.waitForResponse((r) => r.url() === `${url}/account/logout-all`);
      await Promise.all([mine.waitForURL(SENT_TO_SIGN_IN), mine.click('#logout-all')]);
      expect((await everywhere).status()).toBe(200);
      for (const page of [mine, third]) {
        await expectSentToSignIn(page);
      }
    });
  });
}
