/**
 * The egress proxy's decision for one destination: whether the policy allows the host, and which vetted
 * addresses to connect to. A name is resolved exactly once here and every address it resolves to must
 * be permitted; the proxy then connects to those addresses, never to the name, so a DNS answer that
 * changes between check and use (rebinding) cannot steer it to a private or host address.
 */
import { isIP } from 'node:net';
import type { DestinationCheck } from './destination';
import { isHostAllowed, normalizeHostName, type EgressPolicy } from './policy';
import type { Target } from './request-target';

/** Resolves a host name to every IP address it has. */
export type Lookup = (host: string) => Promise<string[]>;

/** Either the addresses to try, in order, or the refusal to answer with (one line, for the model). */
export type Admission =
  { ok: true; addresses: string[] } | { ok: false; status: 400 | 403 | 502; reason: string; detail: string };

export interface AdmissionDeps {
  policy: EgressPolicy;
  lookup: Lookup;
  isPermittedAddress: DestinationCheck;
  /** Bound on one lookup. */
  timeoutMs: number;
}

function refuse(status: 400 | 403 | 502, detail: string, reason: string): Admission {
  return { ok: false, status, detail, reason: `chatd egress: ${reason}` };
}

const PUBLIC_ONLY = 'only public internet addresses are reachable from a workspace';

/** Decides where (if anywhere) the proxy may connect for `target`. Never throws. */
export async function admit(target: Target, deps: AdmissionDeps): Promise<Admission> {
  const { policy } = deps;
  const shown = `${target.host}:${target.port}`;
  if (policy.mode === 'none') return refuse(403, 'policy_none', 'this workspace has no network access');
  if (isIP(target.host) !== 0) {
    if (!isHostAllowed(policy, target.host)) {
      return refuse(403, 'not_allowlisted', `${target.host} is not in this workspace's allowlist`);
    }
    if (!deps.isPermittedAddress(target.host)) {
      return refuse(403, 'private_address', `${target.host} is a private or host address; ${PUBLIC_ONLY}`);
    }
    return { ok: true, addresses: [target.host] };
  }
  const name = normalizeHostName(target.host);
  if (name === null) return refuse(400, 'malformed_host', `malformed host name in ${JSON.stringify(shown)}`);
  if (!isHostAllowed(policy, name)) {
    return refuse(403, 'not_allowlisted', `${name} is not in this workspace's allowlist`);
  }
  let addresses: string[];
  try {
    addresses = await withTimeout(deps.lookup(name), deps.timeoutMs);
  } catch {
    return refuse(502, 'lookup_failed', `could not resolve ${name}`);
  }
  if (addresses.length === 0) return refuse(502, 'lookup_failed', `could not resolve ${name}`);
  const bad = addresses.find((ip) => !deps.isPermittedAddress(ip));
  if (bad !== undefined) {
    return refuse(403, 'private_address', `${name} resolves to a private or host address (${bad}); ${PUBLIC_ONLY}`);
  }
  return { ok: true, addresses };
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('timed out')), ms);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (err: unknown) => {
        clearTimeout(timer);
        reject(err instanceof Error ? err : new Error(String(err)));
      },
    );
  });
}
