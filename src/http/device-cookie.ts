import type { Request, Response } from 'express';
import { DEVICE_NOTE_LIFETIME_SECONDS, type DeviceNotes } from '../abuse/device-notes';
import { readCookie } from './refresh-cookie';

const DEVICE_COOKIE = 'authd_device';

/** The device note (src/abuse/device-notes.ts) as a cookie. */
export interface DeviceCookies {
  /** Whether the request's device cookie vouches for this (normalised) username. */
  vouchesFor(req: Request, normalizedUsername: string): boolean;
  /** Adds (or renews) this username's entry in the response's device cookie. */
  remember(req: Request, res: Response, normalizedUsername: string): void;
}

export function createDeviceCookies(notes: DeviceNotes, secure: boolean): DeviceCookies {
  return {
    vouchesFor: (req, username) => notes.vouchesFor(readCookie(req, DEVICE_COOKIE), username),
    remember(req, res, username) {
      const value = notes.renew(readCookie(req, DEVICE_COOKIE), username);
      // Path /oauth: only the token endpoint reads it. Not for JavaScript, not for other sites.
      res.append(
        'Set-Cookie',
        [
          `${DEVICE_COOKIE}=${value}`,
          'Path=/oauth',
          `Max-Age=${DEVICE_NOTE_LIFETIME_SECONDS}`,
          'HttpOnly',
          'SameSite=Strict',
          ...(secure ? ['Secure'] : []),
        ].join('; '),
      );
    },
  };
}
