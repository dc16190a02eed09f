import { clientAddress } from '../../src/abuse/client-address';

/** The key an address is throttled under: IPv4 as itself, wrapped or not; other IPv6 by /64. */
describe('clientAddress', () => {
  it.each([
    ['plain IPv4', '203.0.113.7', '203.0.113.7'],
    ['IPv4-mapped, dotted', '::ffff:203.0.113.7', '203.0.113.7'],
    ['IPv4-mapped, upper case', '::FFFF:203.0.113.7', '203.0.113.7'],
    ['IPv4-mapped, hex form', '::ffff:7f00:1', '127.0.0.1'],
    ['IPv4-mapped, written out in full', '0:0:0:0:0:ffff:cb00:7107', '203.0.113.7'],
    ['NAT64 well-known prefix, dotted', '64:ff9b::203.0.113.7', '203.0.113.7'],
    ['NAT64 well-known prefix, hex', '64:ff9b::cb00:7107', '203.0.113.7'],
    ['6to4', '2002:cb00:7107::1', '203.0.113.7'],
    ['6to4 with a host part', '2002:cb00:7107:5:aaaa:bbbb:cccc:dddd', '203.0.113.7'],
    ['two NAT64 clients are two keys', '64:ff9b::198.51.100.9', '198.51.100.9'],
    ['IPv6 by its /64', '2001:db8:1:2:3:4:5:6', '2001:db8:1:2::/64'],
    ['IPv6 with leading zeros and upper case', '2001:0DB8:0001:0002::0001', '2001:db8:1:2::/64'],
    ['IPv6 compressed inside the /64', '2001:db8::1', '2001:db8:0:0::/64'],
    ['IPv6 loopback', '::1', '0:0:0:0::/64'],
    ['IPv6 with a zone id', 'fe80::1%eth0', 'fe80:0:0:0::/64'],
    ['NAT64 look-alike outside the /96 is plain IPv6', '64:ff9b:1::cb00:7107', '64:ff9b:1:0::/64'],
    ['not mapped: ::fffe', '::fffe:cb00:7107', '0:0:0:0::/64'],
    ['not an address', 'garbage', 'unknown'],
    ['an IPv4 address with a leading zero', '010.0.0.1', 'unknown'],
    ['empty', '', 'unknown'],
  ])('%s: %s → %s', (_label, ip, key) => {
    expect(clientAddress(ip)).toBe(key);
  });
});
