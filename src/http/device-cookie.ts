import crypto from 'node:crypto';
import type { Request, Response } from 'express';
import type { Clock } from '../clock';
import { KNOWN_NETWORK_TTL_MS } from '../abuse/login-throttle';
import { readCookie } from './refresh-cookie';

export const DEVICE_COOKIE = 'authd_device';
const MAX_USERS = 5;
const LIFETIME_SECONDS = KNOWN_NETWORK_TTL_MS / 1000;

/**
 * A signed note, kept by a browser that logged in successfully, that exempts that browser from
 * the per-user ceiling of the login throttle (see src/abuse/login-throttle.ts). Each entry is
 * `<expiry>.<HMAC(username, expiry)>`: it names no user, and vouches only for the user it was
 * issued to. Up to five users per browser, newest first.
 */
export interface DeviceCookies {
  /** Whether the request's device cookie vouches for this (normalised) username. */
  vouchesFor(req: Request, normalizedUsername: string): boolean;
  /** Adds (or renews) this username's entry in the response's device cookie. */
  remember(req: Request, res: Response, normalizedUsername: string): void;
}

export function createDeviceCookies(serverKey: Buffer, clock: Clock, secure: boolean): DeviceCookies {
  // A key of its own, derived so that a device-cookie MAC can never be a client-secret digest.
  const key = crypto.createHmac('sha256', serverKey).update('authd device cookie v1').digest();
  const mac = (username: string, expiry: string) => crypto.createHmac('sha256', key).update(`${expiry}\0${username}`).digest('base64url');
  const nowSeconds = () => Math.floor(clock.now() / 1000);

  const liveEntries = (req: Request) => (readCookie(req, DEVICE_COOKIE) ?? '').split('~')
    .map((entry) => entry.split('.'))
    .filter((parts): parts is [string, string] => parts.length === 2 && /^\d{1,12}$/.test(parts[0]) && Number(parts[0]) > nowSeconds() && /^[\w-]{43}$/.test(parts[1]))
    .slice(0, MAX_USERS);

  const vouchesFor = (req: Request, username: string) => liveEntries(req).some(([expiry, given]) => {
    const expected = Buffer.from(mac(username, expiry));
    return crypto.timingSafeEqual(expected, Buffer.from(given));
  });

  return {
    vouchesFor,
    remember(req, res, username) {
      const others = liveEntries(req).filter(([expiry, given]) => !crypto.timingSafeEqual(Buffer.from(mac(username, expiry)), Buffer.from(given)));
      const expiry = String(nowSeconds() + LIFETIME_SECONDS);
      const value = [`${expiry}.${mac(username, expiry)}`, ...others.map((parts) => parts.join('.'))].slice(0, MAX_USERS).join('~');
      // Path /oauth: only the token endpoint reads it. Not for JavaScript, not for other sites.
      res.append('Set-Cookie', [`${DEVICE_COOKIE}=${value}`, 'Path=/oauth', `Max-Age=${LIFETIME_SECONDS}`, 'HttpOnly', 'SameSite=Strict', ...(secure ? ['Secure'] : [])].join('; '));
    },
  };
}
