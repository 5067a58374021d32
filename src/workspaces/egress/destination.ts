/**
 * Which IP addresses the egress proxy may connect to, whatever the policy: public unicast only. The
 * sandbox has no network of its own, so the proxy is its only way out, and it must not become a way in
 * to the worker's host (loopback services, the database), the private network, cloud metadata
 * (169.254.169.254) or anything else not on the public internet. Kept apart from `proxy.ts` so the
 * table of refused ranges can be tested without sockets.
 */
import * as os from 'node:os';
import ipaddr from 'ipaddr.js';

/** Decides whether the proxy may connect to an IP address (a resolved one, or a literal from the request). */
export type DestinationCheck = (ip: string) => boolean;

// The public IPv6 internet is allocated from 2000::/3; everything else (including the IPv4-compatible
// ::/96 block, which ipaddr.js calls unicast) is refused.
const GLOBAL_UNICAST_V6 = ipaddr.IPv6.parseCIDR('2000::/3');

/**
 * Parses an address to its canonical form, unwrapping IPv4-mapped IPv6 (`::ffff:127.0.0.1`) to IPv4 so
 * that it is judged as the IPv4 address it reaches. Null when `ip` is not an IP address in standard
 * notation (IPv4 dotted quad or IPv6, an optional `%zone` allowed).
 */
export function parseAddress(ip: string): ipaddr.IPv4 | ipaddr.IPv6 | null {
  const bare = ip.replace(/^\[(.*)\]$/, '$1');
  if (ipaddr.IPv4.isValidFourPartDecimal(bare)) return ipaddr.IPv4.parse(bare);
  if (!ipaddr.IPv6.isValid(bare)) return null;
  const v6 = ipaddr.IPv6.parse(bare);
  return v6.isIPv4MappedAddress() ? v6.toIPv4Address() : v6;
}

/**
 * Whether `ip` is a public unicast address: not loopback, private (RFC 1918), shared (CGNAT 100.64/10),
 * link-local (so not the 169.254.169.254 metadata service), unique-local (fc00::/7), multicast,
 * broadcast, unspecified, documentation, benchmarking, reserved, or an IPv6 form that embeds or
 * translates to IPv4 (NAT64, 6to4, Teredo, SIIT).
 */
export function isPublicUnicast(ip: string): boolean {
  const addr = parseAddress(ip);
  if (addr === null) return false;
  if (addr.kind() === 'ipv4') return addr.range() === 'unicast';
  const v6 = addr as ipaddr.IPv6;
  return v6.range() === 'unicast' && v6.match(GLOBAL_UNICAST_V6);
}

/** The canonical strings of the host's own interface addresses (IPv4-mapped unwrapped, zones dropped). */
export function hostInterfaceAddresses(
  interfaces: NodeJS.Dict<os.NetworkInterfaceInfo[]> = os.networkInterfaces(),
): Set<string> {
  const out = new Set<string>();
  for (const list of Object.values(interfaces)) {
    for (const info of list ?? []) {
      const key = addressKey(info.address);
      if (key !== null) out.add(key);
    }
  }
  return out;
}

function addressKey(ip: string): string | null {
  const addr = parseAddress(ip.replace(/%.*$/, ''));
  return addr === null ? null : addr.toNormalizedString();
}

/**
 * The check the proxy uses by default: public unicast and not one of this host's own addresses (a
 * worker with a public IP must not be reachable through its own proxy). Interfaces are read on every
 * call, so addresses acquired after start-up count too; `interfaces` is injectable for tests.
 */
export function createDestinationCheck(
  interfaces: () => NodeJS.Dict<os.NetworkInterfaceInfo[]> = () => os.networkInterfaces(),
): DestinationCheck {
  return (ip) => {
    if (!isPublicUnicast(ip)) return false;
    const key = addressKey(ip);
    return key !== null && !hostInterfaceAddresses(interfaces()).has(key);
  };
}

/** The default check, reading this host's interfaces. */
export const isPermittedDestination: DestinationCheck = createDestinationCheck();
