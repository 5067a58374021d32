/**
 * The destination check (src/workspaces/egress/destination.ts) applies in every egress mode: the proxy
 * must never connect a sandboxed command to the worker's host, its private network or cloud metadata,
 * however the address is written.
 */
import type { NetworkInterfaceInfo } from 'node:os';
import {
  createDestinationCheck,
  hostInterfaceAddresses,
  isPermittedDestination,
  isPublicUnicast,
  parseAddress,
} from '../../../../src/workspaces/egress/destination';

describe('isPublicUnicast', () => {
  it.each([
    '1.1.1.1',
    '8.8.8.8',
    '93.184.216.34',
    '172.15.255.255',
    '172.32.0.1',
    '100.63.255.255',
    '100.128.0.1',
    '2606:4700:4700::1111',
    '2001:4860:4860::8888',
    '::ffff:8.8.8.8',
    '[2606:4700:4700::1111]',
  ])('admits the public address %s', (ip) => {
    expect(isPublicUnicast(ip)).toBe(true);
  });

  it.each([
    ['127.0.0.1', 'loopback'],
    ['127.255.255.254', 'loopback'],
    ['0.0.0.0', 'unspecified'],
    ['0.1.2.3', '"this network"'],
    ['10.0.0.1', 'private'],
    ['10.255.255.255', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['192.168.1.1', 'private'],
    ['169.254.169.254', 'link-local metadata'],
    ['169.254.0.1', 'link-local'],
    ['100.64.0.1', 'CGNAT'],
    ['100.100.100.200', 'CGNAT metadata'],
    ['224.0.0.1', 'multicast'],
    ['239.255.255.250', 'multicast'],
    ['255.255.255.255', 'broadcast'],
    ['240.0.0.1', 'reserved'],
    ['192.0.0.1', 'IETF protocol assignments'],
    ['192.0.2.1', 'documentation'],
    ['198.18.0.1', 'benchmarking'],
    ['::1', 'IPv6 loopback'],
    ['::', 'IPv6 unspecified'],
    ['::ffff:127.0.0.1', 'IPv4-mapped loopback'],
    ['::ffff:7f00:1', 'IPv4-mapped loopback (hex)'],
    ['::ffff:10.0.0.1', 'IPv4-mapped private'],
    ['::ffff:169.254.169.254', 'IPv4-mapped metadata'],
    ['::7f00:1', 'IPv4-compatible loopback'],
    ['::ffff:0:7f00:1', 'SIIT translated'],
    ['64:ff9b::7f00:1', 'NAT64 of loopback'],
    ['64:ff9b::808:808', 'NAT64'],
    ['2002:7f00:1::1', '6to4'],
    ['2001::1', 'Teredo'],
    ['2001:db8::1', 'documentation'],
    ['fe80::1', 'link-local'],
    ['fe80::1%eth0', 'link-local with zone'],
    ['fc00::1', 'unique local'],
    ['fd00:ec2::254', 'unique local (cloud metadata)'],
    ['fec0::1', 'site-local'],
    ['ff02::1', 'multicast'],
    ['100::1', 'discard'],
    ['[::1]', 'bracketed loopback'],
    ['127.1', 'shorthand IPv4 (not standard notation)'],
    ['0x7f000001', 'hex IPv4'],
    ['2130706433', 'decimal IPv4'],
    ['localhost', 'a name'],
    ['', 'empty'],
  ])('refuses %s (%s)', (ip) => {
    expect(isPublicUnicast(ip)).toBe(false);
  });
});

describe('parseAddress', () => {
  it('unwraps IPv4-mapped IPv6 to the IPv4 address it reaches', () => {
    expect(parseAddress('::ffff:127.0.0.1')?.toString()).toBe('127.0.0.1');
    expect(parseAddress('::FFFF:8.8.8.8')?.kind()).toBe('ipv4');
  });
});

describe('createDestinationCheck (host interfaces)', () => {
  const iface = (address: string, family: 'IPv4' | 'IPv6'): NetworkInterfaceInfo =>
    ({ address, family, netmask: '', mac: '', internal: false, cidr: null, scopeid: 0 }) as NetworkInterfaceInfo;
  const interfaces = {
    lo: [iface('127.0.0.1', 'IPv4'), iface('::1', 'IPv6')],
    eth0: [iface('203.0.114.7', 'IPv4'), iface('2a01:4f8:0:1::7', 'IPv6'), iface('fe80::1%eth0', 'IPv6')],
  };
  const check = createDestinationCheck(() => interfaces);

  // A worker with a public address must not reach its own services (database, Temporal) via its proxy.
  it("refuses the host's own public addresses in every notation", () => {
    expect(check('203.0.114.7')).toBe(false);
    expect(check('::ffff:203.0.114.7')).toBe(false);
    expect(check('2a01:4f8:0:1::7')).toBe(false);
    expect(check('2a01:04f8:0000:0001:0000:0000:0000:0007')).toBe(false);
  });

  it('admits other public addresses and still refuses private ones', () => {
    expect(check('203.0.114.8')).toBe(true);
    expect(check('2a01:4f8:0:1::8')).toBe(true);
    expect(check('10.0.0.1')).toBe(false);
  });

  it('collects interface addresses canonically', () => {
    expect([...hostInterfaceAddresses(interfaces)].sort()).toEqual(
      ['127.0.0.1', '0:0:0:0:0:0:0:1', '203.0.114.7', '2a01:4f8:0:1:0:0:0:7', 'fe80:0:0:0:0:0:0:1'].sort(),
    );
  });

  it("the default check refuses every address of this machine's interfaces", () => {
    for (const key of hostInterfaceAddresses()) expect(isPermittedDestination(key)).toBe(false);
  });
});
