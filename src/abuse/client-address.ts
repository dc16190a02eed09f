import net from 'node:net';

/** The eight 16-bit groups of an IPv6 address (a trailing dotted quad and a zone id allowed). */
function ipv6Groups(ip: string): number[] {
  let text = ip.split('%')[0];
  const quad = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (quad) {
    const [a, b, c, d] = quad[1].split('.').map(Number);
    text = `${text.slice(0, -quad[1].length)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.split('::');
  const parse = (part: string | undefined) => (part ? part.split(':').map((g) => parseInt(g, 16)) : []);
  const left = parse(head);
  const right = parse(tail);
  return tail === undefined ? left : [...left, ...Array(8 - left.length - right.length).fill(0), ...right];
}

const dottedQuad = (high: number, low: number) => [high >> 8, high & 255, low >> 8, low & 255].join('.');

/**
 * The IPv4 address an IPv6 address carries, when it is only a wrapper for one: IPv4-mapped
 * (::ffff:0:0/96), NAT64 (64:ff9b::/96, RFC 6052) and 6to4 (2002::/16, RFC 3056).
 */
function embeddedIpv4(g: number[]): string | undefined {
  const zero = (from: number, to: number) => g.slice(from, to).every((x) => x === 0);
  if (zero(0, 5) && g[5] === 0xffff) return dottedQuad(g[6], g[7]);
  if (g[0] === 0x64 && g[1] === 0xff9b && zero(2, 6)) return dottedQuad(g[6], g[7]);
  if (g[0] === 0x2002) return dottedQuad(g[1], g[2]);
  return undefined;
}

/**
 * The address a client is counted under: IPv4 as is, also when wrapped in IPv6 (otherwise every
 * IPv4 client behind one NAT64 gateway or 6to4 relay would share one /64); other IPv6 by its /64
 * prefix, since one host or subscriber usually holds a whole /64 and could rotate through it.
 * Anything that is not an IP address (a unix socket, a proxy's junk) is counted as one "unknown".
 */
export function clientAddress(ip: string): string {
  if (net.isIPv4(ip)) return ip;
  if (!net.isIPv6(ip)) return 'unknown';
  const groups = ipv6Groups(ip);
  return (
    embeddedIpv4(groups) ??
    `${groups
      .slice(0, 4)
      .map((g) => g.toString(16))
      .join(':')}::/64`
  );
}
