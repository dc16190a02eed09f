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
};

const escapeHtml = (value: string) => value.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

type Branding = NonNullable<Config['hostedPages']>;

function render(file: string, branding: Branding): string {
  const logo = branding.logoUrl ? `<img src="${escapeHtml(branding.logoUrl)}" alt="">` : '';
  return fs.readFileSync(path.join(PAGES_DIR, file), 'utf8')
    .replaceAll('{{brandName}}', escapeHtml(branding.brandName))
    .replaceAll('{{clientId}}', escapeHtml(branding.clientId))
    .replaceAll('{{logo}}', logo);
}

/**
 * The hosted sign-in and account pages: plain HTML, CSS and a little JavaScript from files (no
 * inline script or style, so the CSP stays strict). GET /account is the page for a browser
 * navigation and the Account API for anything carrying a bearer token.
 */
export function pagesRouter(branding: Branding): Router {
  const router = Router();
  const html = { login: render('login.html', branding), account: render('account.html', branding) };
  const assets = Object.fromEntries(Object.keys(ASSETS).map((name) => [name, fs.readFileSync(path.join(PAGES_DIR, name))]));
  const brandCss = `:root { --brand: ${branding.brandColor}; }\n`;

  const sendPage = (body: string) => (_req: unknown, res: import('express').Response) => {
    res.set({ 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' }).send(body);
  };
  router.get('/login', sendPage(html.login));
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
    res.set({ 'Content-Type': ASSETS[req.params.file], 'Cache-Control': 'public, max-age=300' }).send(assets[req.params.file]);
  });
  return router;
}
