import net from 'node:net';

/** Which proxies may set X-Forwarded-For: a hop count, or their addresses/subnets (express `trust proxy`). */
export type TrustProxy = number | readonly string[] | false;

const NAMED = new Set(['loopback', 'linklocal', 'uniquelocal']);

function isAddressOrSubnet(entry: string): boolean {
  const [address, prefix, ...rest] = entry.split('/');
  if (rest.length || !net.isIP(address)) return false;
  if (prefix === undefined) return true;
  return /^\d{1,3}$/.test(prefix) && Number(prefix) <= (net.isIPv4(address) ? 32 : 128);
}

/**
 * AUTHD_TRUST_PROXY. `true` is refused: it trusts every X-Forwarded-For entry, so any client
 * picks the address its failed logins are counted under.
 */
export function parseTrustProxy(value: string): { trust: TrustProxy } | { problem: string } {
  const trimmed = value.trim();
  if (/^(true|yes|on)$/i.test(trimmed)) {
    return {
      problem:
        'true would let every client choose its IP with X-Forwarded-For; give the number of proxies in front (e.g. 1) or their addresses/CIDRs (e.g. 10.0.0.5,10.1.0.0/16)',
    };
  }
  if (/^(false|no|off)$/i.test(trimmed)) return { trust: false };
  if (/^\d{1,2}$/.test(trimmed)) return { trust: Number(trimmed) === 0 ? false : Number(trimmed) };
  const entries = trimmed
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const bad = entries.find((entry) => !NAMED.has(entry) && !isAddressOrSubnet(entry));
  if (bad !== undefined || entries.length === 0) {
    return {
      problem: `expected a hop count or a comma-separated list of proxy addresses/CIDRs (or loopback, linklocal, uniquelocal), got "${(bad ?? value).slice(0, 64)}"`,
    };
  }
  return { trust: Object.freeze(entries) };
}
