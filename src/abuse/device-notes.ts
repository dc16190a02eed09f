import crypto from 'node:crypto';
import type { Clock } from '../clock';
import { KNOWN_NETWORK_TTL_MS } from './login-throttle';

const MAX_USERS = 5;
export const DEVICE_NOTE_LIFETIME_SECONDS = KNOWN_NETWORK_TTL_MS / 1000;

/**
 * A signed note, kept by a browser that logged in successfully, that exempts that browser from
 * the per-user ceiling of the login throttle (see src/abuse/login-throttle.ts). Each entry is
 * `<expiry>.<HMAC(username, expiry)>`: it names no user, and vouches only for the user it was
 * issued to. Up to five users per browser, newest first. The HTTP edge carries it in a cookie
 * (src/http/device-cookie.ts).
 */
export interface DeviceNotes {
  /** Whether the note vouches for this (normalised) username. */
  vouchesFor(note: string | undefined, normalizedUsername: string): boolean;
  /** The note with this username's entry added (or renewed) in front. */
  renew(note: string | undefined, normalizedUsername: string): string;
}

export function createDeviceNotes(serverKey: Buffer, clock: Clock): DeviceNotes {
  // A key of its own, derived so that a device-note MAC can never be a client-secret digest.
  const key = crypto.createHmac('sha256', serverKey).update('authd device cookie v1').digest();
  const mac = (username: string, expiry: string) =>
    crypto.createHmac('sha256', key).update(`${expiry}\0${username}`).digest('base64url');
  const nowSeconds = () => Math.floor(clock.now() / 1000);

  const liveEntries = (note: string | undefined) =>
    (note ?? '')
      .split('~')
      .map((entry) => entry.split('.'))
      .filter(
        (parts): parts is [string, string] =>
          parts.length === 2 &&
          /^\d{1,12}$/.test(parts[0]) &&
          Number(parts[0]) > nowSeconds() &&
          /^[\w-]{43}$/.test(parts[1]),
      )
      .slice(0, MAX_USERS);

  return {
    vouchesFor: (note, username) =>
      liveEntries(note).some(([expiry, given]) => {
        const expected = Buffer.from(mac(username, expiry));
        return crypto.timingSafeEqual(expected, Buffer.from(given));
      }),
    renew(note, username) {
      const others = liveEntries(note).filter(
        ([expiry, given]) => !crypto.timingSafeEqual(Buffer.from(mac(username, expiry)), Buffer.from(given)),
      );
      const expiry = String(nowSeconds() + DEVICE_NOTE_LIFETIME_SECONDS);
      return [`${expiry}.${mac(username, expiry)}`, ...others.map((parts) => parts.join('.'))]
        .slice(0, MAX_USERS)
        .join('~');
    },
  };
}
