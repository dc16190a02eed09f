import fs from 'node:fs';
import path from 'node:path';
import { Router } from 'express';
import type { Config } from '../config';
import { PROJECT_ROOT } from '../project-root';

const PAGES_DIR = path.join(PROJECT_ROOT, 'pages');
const ASSETS: Record<string, string> = {
  'pages.css': 'text/css; charset=utf-8',
  'login.js': 'text/javascript; charset=utf-8',
  'login-mfa.js': 'text/javascript; charset=utf-8',
  'account-mfa.js': 'text/javascript; charset=utf-8',
  'account.js': 'text/javascript; charset=utf-8',
  'reset.js': 'text/javascript; charset=utf-8',
  'verify-email.js': 'text/javascript; charset=utf-8',
};

const escapeHtml = (value: string) => value.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

type Branding = NonNullable<Config['hostedPages']>;

const FORGOT_PASSWORD = '<p class="muted"><a href="/reset">Forgot password?</a></p>';

function render(file: string, branding: Branding, features: PageFeatures): string {
  const logo = branding.logoUrl ? `<img src="${escapeHtml(branding.logoUrl)}" alt="">` : '';
  return fs
    .readFileSync(path.join(PAGES_DIR, file), 'utf8')
    .replaceAll('{{forgotPassword}}', features.recovery ? FORGOT_PASSWORD : '')
    .replaceAll('{{brandName}}', escapeHtml(branding.brandName))
    .replaceAll('{{clientId}}', escapeHtml(branding.clientId))
    .replaceAll('{{logo}}', logo);
}

/**
 * The hosted sign-in and account pages: plain HTML, CSS and a little JavaScript from files (no
 * inline script or style, so the CSP stays strict). GET /account is the page for a browser
 * navigation and the Account API for anything carrying a bearer token.
 */
export interface PageFeatures {
  /** Mail is on: the password reset and email verification pages, and the login page's link to them. */
  recovery: boolean;
}

export function pagesRouter(branding: Branding, features: PageFeatures = { recovery: false }): Router {
  const router = Router();
  const page = (file: string) => render(file, branding, features);
  const html = { login: page('login.html'), account: page('account.html') };
  const assets = Object.fromEntries(
    Object.keys(ASSETS).map((name) => [name, fs.readFileSync(path.join(PAGES_DIR, name))]),
  );
  const brandCss = `:root { --brand: ${branding.brandColor}; }\n`;

  const sendPage = (body: string) => (_req: unknown, res: import('express').Response) => {
    res.set({ 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' }).send(body);
  };
  router.get('/login', sendPage(html.login));
  if (features.recovery) {
    router.get('/reset', sendPage(page('reset.html')));
    router.get('/verify-email', sendPage(page('verify-email.html')));
  }
  router.get('/favicon.ico', (_req, res) => {
    res.set('Cache-Control', 'public, max-age=86400').status(204).end();
  });
  router.get('/account', (req, res, next) => {
    if (req.headers.authorization || req.accepts(['json', 'html']) !== 'html') return next();
    sendPage(html.account)(req, res);
  });
  router.get('/pages/brand.css', (_req, res) => {
    res.set({ 'Content-Type': 'text/css; charset=utf-8', 'Cache-Control': 'public, max-age=300' }).send(brandCss);
  });
  router.get('/pages/:file', (req, res, next) => {
    if (!Object.hasOwn(ASSETS, req.params.file)) return next();
    res
      .set({ 'Content-Type': ASSETS[req.params.file], 'Cache-Control': 'public, max-age=300' })
      .send(assets[req.params.file]);
  });
  return router;
}
