import Bowser from 'bowser';

/**
 * A session's user agent as people say it: "Chrome on Linux", "Safari on iOS", or for a
 * non-browser the program's own name ("curl", "python-requests"). Bowser keeps the browser and
 * OS tables up to date, so authd does not.
 */
export function describeDevice(userAgent: string | null): string | null {
  const ua = userAgent?.trim();
  if (!ua) return null;
  const { browser, os } = Bowser.parse(ua.slice(0, 512));
  if (browser.name) return os.name ? `${browser.name} on ${os.name}` : browser.name;
  return /^[\w.-]{1,40}/.exec(ua)?.[0] ?? null;
}
