/**
 * A workspace's network egress policy: what its sandboxed commands may reach through the egress proxy
 * (`proxy.ts`). `none` reaches nothing, `internet` any public address, `allowlist` only the listed host
 * names. Parsing and host matching live here, apart from the proxy, so templates and configuration can
 * validate a policy without starting anything. Which addresses are public is `destination.ts`'s job and
 * applies in every mode.
 */
import { isIP } from 'node:net';
import { z } from 'zod';

export type EgressPolicy = { mode: 'none' } | { mode: 'allowlist'; domains: string[] } | { mode: 'internet' };

const LABEL = /^(?!-)[a-z0-9_-]{1,63}(?<!-)$/;

/**
 * A host name in canonical form: lower case, without a trailing dot. Returns null for anything that is
 * not a plain DNS name (empty labels, spaces, non-ASCII, over 253 characters). IP literals are not names.
 */
export function normalizeHostName(host: string): string | null {
  const name = host.toLowerCase().replace(/\.$/, '');
  if (name.length === 0 || name.length > 253 || isIP(name) !== 0) return null;
  return name.split('.').every((label) => LABEL.test(label)) ? name : null;
}

/**
 * One allowlist entry in canonical form: `example.com` (that host only) or `*.example.com` (any host
 * below it, not `example.com` itself). Throws with a message naming the entry.
 */
export function normalizeDomainPattern(entry: string): string {
  const trimmed = entry.trim();
  const wildcard = trimmed.startsWith('*.');
  const name = normalizeHostName(wildcard ? trimmed.slice(2) : trimmed);
  if (name === null) {
    const hint = isIP(trimmed.replace(/^\[|\]$/g, '')) !== 0 ? ' (list host names, not IP addresses)' : '';
    throw new Error(`Invalid egress allowlist entry "${entry}": expected a host name or "*.domain"${hint}.`);
  }
  return wildcard ? `*.${name}` : name;
}

/** Whether `host` (a name, any case, trailing dot allowed) matches one of the canonical `patterns`. */
export function matchesAllowlist(host: string, patterns: readonly string[]): boolean {
  const name = normalizeHostName(host);
  if (name === null) return false;
  // `*.example.com` keeps its dot when compared (`.example.com`), so `evil-example.com` does not match.
  return patterns.some((pattern) => (pattern.startsWith('*.') ? name.endsWith(pattern.slice(1)) : name === pattern));
}

/** Whether the policy lets commands ask for `host` at all (a name or an IP literal). */
export function isHostAllowed(policy: EgressPolicy, host: string): boolean {
  if (policy.mode === 'none') return false;
  if (policy.mode === 'internet') return true;
  return matchesAllowlist(host, policy.domains);
}

/**
 * Parses the textual form used in configuration: `none`, `internet`, or `allowlist:a.com,*.b.org`
 * (entries separated by commas, whitespace ignored). Throws an Error saying what is accepted.
 */
export function parseEgressPolicy(text: string): EgressPolicy {
  const value = text.trim();
  if (value === 'none' || value === 'internet') return { mode: value };
  const match = /^allowlist\s*:(.*)$/s.exec(value);
  if (!match) {
    throw new Error(`Invalid egress policy "${text}": expected "none", "internet" or "allowlist:<host>,<*.domain>,…".`);
  }
  const entries = (match[1] ?? '').split(',').map((s) => s.trim());
  if (entries.some((s) => s === '')) {
    throw new Error(`Invalid egress policy "${text}": the allowlist has an empty entry.`);
  }
  return { mode: 'allowlist', domains: [...new Set(entries.map(normalizeDomainPattern))] };
}

/** A policy one line long, as reported to the model and in logs. */
export function describeEgressPolicy(policy: EgressPolicy): string {
  return policy.mode === 'allowlist' ? `allowlist (${policy.domains.join(', ')})` : policy.mode;
}

const domainPattern = z.string().transform((entry, ctx) => {
  try {
    return normalizeDomainPattern(entry);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message });
    return z.NEVER;
  }
});

/**
 * The policy in a template or JSON configuration: either the text form above or the object form
 * `{ mode: 'allowlist', domains: [...] }`. Output is canonical (normalized, de-duplicated domains).
 */
export const egressPolicySchema: z.ZodType<EgressPolicy, unknown> = z.union([
  z.string().transform((text, ctx) => {
    try {
      return parseEgressPolicy(text);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: (err as Error).message });
      return z.NEVER;
    }
  }),
  z.discriminatedUnion('mode', [
    z.object({ mode: z.literal('none') }).strict(),
    z.object({ mode: z.literal('internet') }).strict(),
    z
      .object({ mode: z.literal('allowlist'), domains: z.array(domainPattern).min(1) })
      .strict()
      .transform((p) => ({ mode: 'allowlist' as const, domains: [...new Set(p.domains)] })),
  ]),
]);
