import fs from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type Locator, type Page } from 'playwright-core';
import { base32Decode, totpCode, totpStep } from '../../src/mfa/totp';
import { ROOT } from '../support/processes';
import { scaled } from '../support/timing';
import { chooseIssuer, prepareBackend, startBrowserServer, type Backend, type BrowserServer } from './authd-process';

/*
 * Two-step verification on the hosted pages in a real headless Chromium against the built server:
 * enrolment on the account page (the test reads the key from the page and computes codes with
 * RFC 6238, as an authenticator app would), sign-in with password + code (keyboard only), with
 * a recovery code, ten new recovery codes, and turning it off. Postgres + Redis when DATABASE_URL
 * and REDIS_URL are set.
 */

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
const WAIT = 20_000;
const CAROL = { username: 'carol', password: 'carol keeps a second factor' };

if (!fs.existsSync(CHROMIUM)) {
  describe('two-step verification in a real browser', () => {
    it('needs Chromium', () => {
      if (process.env.CI === 'true')
        throw new Error(
          `Chromium not installed at ${CHROMIUM} (apt-get install chromium): CI=true requires the browser tests to run.`,
        );
      process.stderr.write(
        '\n[authd tests] MFA browser tests skipped: Chromium not installed (apt-get install chromium)\n\n',
      );
    });
  });
} else {
  describe('two-step verification in a real browser (Chromium)', () => {
    jest.setTimeout(scaled(60_000));

    let backend: Backend;
    let server: BrowserServer | undefined;
    let browser: Browser | undefined;
    let page: Page;
    let url: string;
    let secret: Buffer;
    let recoveryCodes: string[];
    /** A code of the first set, after the second replaced it. */
    let oldCode: string;
    /** The highest time step whose code was used: an authenticator code works once. */
    let lastStep = 0;
    const problems: string[] = [];

    beforeAll(async () => {
      fs.mkdirSync(SCREENSHOTS, { recursive: true });
      backend = await prepareBackend();
      const { port, issuer } = await chooseIssuer();
      await backend.createUsers([CAROL], issuer);
      server = await startBrowserServer(backend.env, port);
      url = server.url;
      browser = await chromium.launch({ executablePath: CHROMIUM, args: LAUNCH_ARGS, timeout: 60_000 });
      const context = await browser.newContext({ viewport: { width: 1000, height: 900 } });
      await context.addInitScript(`document.addEventListener('securitypolicyviolation', (e) =>
        console.error('Content Security Policy violation: ' + e.violatedDirective + ' blocked ' + e.blockedURI));`);
      page = await context.newPage();
      page.setDefaultTimeout(WAIT);
      page.on('pageerror', (error) => problems.push(`pageerror on ${page.url()}: ${error.message}`));
      page.on('console', (message) => {
        if (message.text().includes('Content Security Policy'))
          problems.push(`console on ${page.url()}: ${message.text()}`);
      });
    }, 120_000);

    afterAll(async () => {
      await browser?.close().catch(() => {});
      await server?.stop();
      await backend?.cleanup();
    }, 60_000);

    afterEach(() => expect(problems.splice(0)).toEqual([]));

    async function shows(locator: Locator, text: string | RegExp): Promise<void> {
      await locator.filter({ hasText: text }).waitFor({ state: 'visible' });
    }
    const activeId = () => page.evaluate<string>('document.activeElement ? document.activeElement.id : ""');

    /** A code no sign-in has used yet: the current step's, or the next one's (one step of drift is allowed). */
    function freshCode(): string {
      const step = Math.max(totpStep(Date.now()), lastStep + 1);
      lastStep = step;
      return totpCode(secret, step);
    }

    async function passwordStep(): Promise<void> {
      await page.goto(`${url}/login`);
      await page.keyboard.press('Tab');
      await page.keyboard.type(CAROL.username);
      await page.keyboard.press('Tab');
      await page.keyboard.type(CAROL.password);
      const answered = page.waitForResponse((r) => r.url() === `${url}/oauth/token`);
      await page.keyboard.press('Enter');
      expect((await answered).status()).toBe(403);
      await page.locator('#mfa-form').waitFor({ state: 'visible' });
      expect(await page.locator('#login-form').isHidden()).toBe(true);
      expect(await activeId()).toBe('mfa-code');
    }

    async function signOut(): Promise<void> {
      await Promise.all([page.waitForURL(/\/login/), page.click('#logout')]);
    }

    it('1. enrols an authenticator on the account page: QR code, key, first code, recovery codes once', async () => {
      await page.goto(`${url}/login`);
      await page.fill('#username', CAROL.username);
      await page.fill('#password', CAROL.password);
      await Promise.all([page.waitForURL(`${url}/account`), page.click('#submit')]);
      await shows(page.locator('#mfa-status'), 'Off.');

      await page.fill('#mfa-start-password', 'not my password');
      await page.press('#mfa-start-password', 'Enter');
      await shows(page.locator('#mfa-start-message'), 'The current password is wrong.');
      await page.fill('#mfa-start-password', CAROL.password);
      await page.press('#mfa-start-password', 'Enter');
      await page.locator('#mfa-confirm-form').waitFor({ state: 'visible' });
      expect(await activeId()).toBe('mfa-confirm-code');
      const qr = page.locator('#mfa-qr');
      expect(await qr.getAttribute('src')).toMatch(/^data:image\/svg\+xml;base64,/);
      // The SVG renders (an image the CSP or a bad encoding blocked would have no natural size).
      await page.waitForFunction(
        'document.getElementById("mfa-qr").complete && document.getElementById("mfa-qr").naturalWidth > 0',
      );
      expect(await qr.getAttribute('alt')).toBeTruthy();
      const key = (await page.getAttribute('#mfa-secret', 'data-secret'))!;
      expect((await page.textContent('#mfa-secret'))!.replace(/ /g, '')).toBe(key);
      secret = base32Decode(key);
      await page.screenshot({ path: path.join(SCREENSHOTS, 'mfa-enrol.png'), fullPage: true });

      await page.keyboard.type('000000');
      await page.keyboard.press('Enter');
      await shows(page.locator('#mfa-confirm-message'), /wrong or expired/);
      await page.fill('#mfa-confirm-code', freshCode());
      await page.press('#mfa-confirm-code', 'Enter');
      await page.locator('#mfa-recovery').waitFor({ state: 'visible' });
      recoveryCodes = (await page.locator('#mfa-recovery-codes li').allTextContents()).map((c) => c.trim());
      expect(recoveryCodes).toHaveLength(10);
      expect(await activeId()).toBe('mfa-recovery-done');
      await page.keyboard.press('Enter');
      await shows(page.locator('#mfa-status'), /^On since .*\. 10 recovery code\(s\) left\.$/);
      expect(await page.locator('#mfa-recovery-codes li').count()).toBe(0); // shown once
    });

    it('2. signs in with the password and then a code from the app, keyboard only', async () => {
      await signOut();
      await passwordStep();
      await page.keyboard.type('123');
      await page.keyboard.press('Enter');
      await shows(page.locator('#mfa-message'), /That code is wrong or was already used/);
      expect(await page.getAttribute('#mfa-message', 'role')).toBe('alert');
      expect(await activeId()).toBe('mfa-code');
      await page.keyboard.type(freshCode());
      const granted = page.waitForResponse((r) => r.url() === `${url}/oauth/token`);
      await Promise.all([page.waitForURL(`${url}/account`), page.keyboard.press('Enter')]);
      expect((await granted).status()).toBe(200);
      await shows(page.locator('#username'), CAROL.username);
    });

    it('3. signs in with a recovery code instead, which then is spent', async () => {
      await signOut();
      await passwordStep();
      await page.keyboard.press('Tab');
      await page.keyboard.press('Tab');
      expect(await activeId()).toBe('mfa-switch');
      await page.keyboard.press('Enter');
      await shows(page.locator('#mfa-label'), 'Recovery code');
      expect(await activeId()).toBe('mfa-code');
      await page.keyboard.type(recoveryCodes[0].toLowerCase());
      await Promise.all([page.waitForURL(`${url}/account`), page.keyboard.press('Enter')]);
      await shows(page.locator('#mfa-status'), /9 recovery code\(s\) left\.$/);

      await signOut();
      await passwordStep();
      await page.click('#mfa-switch');
      await page.keyboard.type(recoveryCodes[0]);
      await page.keyboard.press('Enter');
      await shows(page.locator('#mfa-message'), 'That recovery code is wrong or was already used.');
    });

    it('4. makes ten new recovery codes with the password and a current code, shown once; the old ones stop working', async () => {
      await page.fill('#mfa-code', recoveryCodes[1]);
      await Promise.all([page.waitForURL(`${url}/account`), page.press('#mfa-code', 'Enter')]);
      await page.locator('#mfa-regenerate-form').waitFor({ state: 'visible' });
      await page.fill('#mfa-regenerate-password', CAROL.password);
      await page.fill('#mfa-regenerate-code', '000000');
      await page.press('#mfa-regenerate-code', 'Enter');
      await shows(page.locator('#mfa-regenerate-message'), 'The code is wrong or was already used.');
      // The codes of the steps up to now+1 may all be spent already (each works once): wait, as a
      // person waits for the app's next code, until a fresh one is inside the server's drift window.
      while (lastStep >= totpStep(Date.now()) + 1) await new Promise((resolve) => setTimeout(resolve, 500));
      await page.fill('#mfa-regenerate-code', freshCode());
      await page.press('#mfa-regenerate-code', 'Enter');
      await page.locator('#mfa-recovery').waitFor({ state: 'visible' });
      const fresh = (await page.locator('#mfa-recovery-codes li').allTextContents()).map((c) => c.trim());
      expect(fresh).toHaveLength(10);
      expect(fresh.filter((c) => recoveryCodes.includes(c))).toEqual([]);
      expect(await activeId()).toBe('mfa-recovery-done');
      await page.keyboard.press('Enter');
      await shows(page.locator('#mfa-status'), /^On since .*\. 10 recovery code\(s\) left\.$/);
      expect(await page.locator('#mfa-recovery-codes li').count()).toBe(0); // shown once
      oldCode = recoveryCodes[2];
      recoveryCodes = fresh;
    });

    it('5. turns two-step verification off with the password and a recovery code; the next sign-in is password only', async () => {
      await page.locator('#mfa-disable-form').waitFor({ state: 'visible' });
      await page.fill('#mfa-disable-password', CAROL.password);
      await page.fill('#mfa-disable-code', '000000');
      await page.press('#mfa-disable-code', 'Enter');
      await shows(page.locator('#mfa-disable-message'), 'The code is wrong or was already used.');
      await page.fill('#mfa-disable-code', oldCode);
      await page.press('#mfa-disable-code', 'Enter');
      await shows(page.locator('#mfa-disable-message'), 'The code is wrong or was already used.');
      await page.fill('#mfa-disable-code', recoveryCodes[0]);
      await page.press('#mfa-disable-code', 'Enter');
      await shows(page.locator('#mfa-status'), 'Off.');

      await signOut();
      await page.fill('#username', CAROL.username);
      await page.fill('#password', CAROL.password);
      await Promise.all([page.waitForURL(`${url}/account`), page.click('#submit')]);
      await shows(page.locator('#mfa-status'), 'Off.');
    });
  });
}
