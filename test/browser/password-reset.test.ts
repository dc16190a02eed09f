import fs from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';
import { RESET_ACCEPTED } from '../../src/http/account-recovery';
import { startSmtpServer, linkIn, type TestSmtpServer } from '../support/smtp';
import { scaled } from '../support/timing';
import { chooseIssuer, prepareBackend, startBrowserServer, type Backend, type BrowserServer } from './authd-process';

/*
 * A user who forgot the password resets it alone, in a real headless Chromium against the built
 * server, with the link received over SMTP by a real SMTP server in this process: "Forgot
 * password?" on /login, the request on /reset, the mailed link, the new password, a sign-in with it.
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
const WAIT = 20_000;
const HANNA = { username: 'hanna', password: 'hanna had a long old passphrase', email: 'hanna@example.org' };
const NEW_PASSWORD = 'hanna chose a new long passphrase';

if (!fs.existsSync(CHROMIUM)) {
  describe('password reset in a real browser', () => {
    it('needs Chromium', () => {
      if (process.env.CI === 'true')
        throw new Error(
          `Chromium not installed at ${CHROMIUM} (apt-get install chromium): CI=true requires the browser tests to run.`,
        );
      process.stderr.write(
        '\n[authd tests] password reset browser test skipped: Chromium not installed (apt-get install chromium)\n\n',
      );
    });
  });
} else {
  describe('password reset in a real browser (Chromium) with mail over SMTP', () => {
    jest.setTimeout(scaled(90_000));

    let backend: Backend;
    let server: BrowserServer | undefined;
    let browser: Browser | undefined;
    let smtp: TestSmtpServer;
    const problems: string[] = [];

    beforeAll(async () => {
      smtp = await startSmtpServer();
      backend = await prepareBackend();
      const { port, issuer } = await chooseIssuer();
      await backend.createUsers([HANNA], issuer);
      server = await startBrowserServer(
        { ...backend.env, AUTHD_SMTP_URL: smtp.url, AUTHD_MAIL_FROM: 'Example <no-reply@example.org>' },
        port,
      );
      browser = await chromium.launch({ executablePath: CHROMIUM, args: LAUNCH_ARGS, timeout: 60_000 });
    }, 120_000);

    afterAll(async () => {
      await browser?.close().catch(() => {});
      await server?.stop();
      await backend?.cleanup();
      await smtp?.close();
    }, 60_000);

    async function openPage(): Promise<Page> {
      const context = await browser!.newContext();
      const page = await context.newPage();
      page.setDefaultTimeout(WAIT);
      page.on('pageerror', (error) => problems.push(`pageerror on ${page.url()}: ${error.message}`));
      page.on('console', (message) => {
        if (message.text().includes('Content Security Policy'))
          problems.push(`console on ${page.url()}: ${message.text()}`);
      });
      return page;
    }

    it('goes from "Forgot password?" through the mailed link to a sign-in with the new password', async () => {
      const page = await openPage();
      await page.goto(`${server!.url}/login`);
      await page.getByRole('link', { name: 'Forgot password?' }).click();
      await page.waitForURL(`${server!.url}/reset`);
      await page.getByLabel('Username or email').fill(HANNA.email);
      await page.keyboard.press('Enter');
      await page.locator('#message.ok').filter({ hasText: RESET_ACCEPTED.message }).waitFor();

      const mail = await smtp.next(scaled(30_000));
      expect({ to: mail.to, subject: mail.subject }).toEqual({
        to: [HANNA.email],
        subject: 'Reset your authd password',
      });
      const link = linkIn(mail, '/reset');
      expect(link.startsWith(`${server!.url}/reset#token=`)).toBe(true);

      await page.goto(link);
      await page.locator('#confirm-form').waitFor({ state: 'visible' });
      expect(page.url()).toBe(`${server!.url}/reset`); // the token left the address bar
      await page.getByLabel('New password (at least 8 characters)').fill(NEW_PASSWORD);
      await page.getByLabel('New password again').fill(NEW_PASSWORD);
      await page.getByRole('button', { name: 'Set the new password' }).click();
      await page.locator('#message.ok').filter({ hasText: 'The password was changed' }).waitFor();

      // The same link a second time: refused, and the page offers a new one.
      const again = await openPage();
      await again.goto(link);
      await again.getByLabel('New password (at least 8 characters)').fill('yet another long passphrase');
      await again.getByLabel('New password again').fill('yet another long passphrase');
      await again.getByRole('button', { name: 'Set the new password' }).click();
      await again
        .locator('#message')
        .filter({ hasText: 'The link is invalid, has expired or was already used; ask for a new one.' })
        .waitFor();
      await again.locator('#request-form').waitFor({ state: 'visible' });

      await page.goto(`${server!.url}/login`);
      await page.getByLabel('Username or email').fill(HANNA.username);
      await page.getByLabel('Password').fill(NEW_PASSWORD);
      await page.keyboard.press('Enter');
      await page.waitForURL(`${server!.url}/account`);

      const notice = await smtp.next(scaled(30_000));
      expect(notice.subject).toBe('Your authd password was changed');
      expect(problems).toEqual([]);
    });
  });
}
