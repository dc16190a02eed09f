import type { Request, Response } from 'express';
import type { Client } from '../clients/client-store';
import { OAuthError } from '../errors';

const REFRESH_COOKIE = 'authd_rt';
// The token and revocation endpoints both live under /oauth: the cookie goes nowhere else.
const COOKIE_PATH = '/oauth';

export function readCookie(req: Request, cookieName: string): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const [name, ...value] = part.trim().split('=');
    if (name === cookieName) return value.join('=') || undefined;
  }
  return undefined;
}

export function readRefreshCookie(req: Request): string | undefined {
  return readCookie(req, REFRESH_COOKIE);
}

function cookie(value: string, maxAgeSeconds: number, secure: boolean): string {
  return [
    `${REFRESH_COOKIE}=${value}`,
    `Path=${COOKIE_PATH}`,
    `Max-Age=${maxAgeSeconds}`,
    'HttpOnly',
    'SameSite=Strict',
    ...(secure ? ['Secure'] : []),
  ].join('; ');
}

export function setRefreshCookie(res: Response, token: string, maxAgeSeconds: number, secure: boolean): void {
  res.append('Set-Cookie', cookie(token, maxAgeSeconds, secure));
}

export function clearRefreshCookie(res: Response, secure: boolean): void {
  res.append('Set-Cookie', cookie('', 0, secure));
}

/**
 * CSRF defence for cookie-mode clients: a browser always sends Origin on a cross-site POST (and on
 * same-origin fetch POSTs), so the request must come from one of the client's origins. SameSite
 * keeps the cookie itself off other sites' requests.
 */
export function checkCookieClientOrigin(req: Request, client: Client): void {
  if (!client.cookieMode) return;
  const origin = req.get('origin');
  if (!origin || !client.allowedOrigins.includes(origin)) {
    throw new OAuthError('invalid_request', "The request must come from one of the client's origins.", {
      status: 403,
      detail: `origin ${origin ?? '(none)'}`,
    });
  }
}
