/**
 * Egress policies (src/workspaces/egress/policy.ts): the text form operators write, the template form,
 * and host matching. Matching is the allowlist's whole security: a suffix match without its dot, or a
 * prefix match, would let `evil-example.com` or `example.com.evil.net` through.
 */
import {
  describeEgressPolicy,
  egressPolicySchema,
  isHostAllowed,
  matchesAllowlist,
  normalizeHostName,
  parseEgressPolicy,
  type EgressPolicy,
} from '../../../../src/workspaces/egress/policy';

describe('parseEgressPolicy', () => {
  it('parses none, internet and allowlists (normalized, de-duplicated, spaces ignored)', () => {
    expect(parseEgressPolicy('none')).toEqual({ mode: 'none' });
    expect(parseEgressPolicy(' internet ')).toEqual({ mode: 'internet' });
    expect(parseEgressPolicy('allowlist:example.com, *.PyPI.org ,Example.com.')).toEqual({
      mode: 'allowlist',
      domains: ['example.com', '*.pypi.org'],
    });
  });

  it.each([
    ['', /expected "none", "internet" or "allowlist/],
    ['all', /expected "none", "internet" or "allowlist/],
    ['Internet', /expected "none"/],
    ['allowlist', /expected "none"/],
    ['allowlist:', /empty entry/],
    ['allowlist:a.com,,b.com', /empty entry/],
    ['allowlist:*', /Invalid egress allowlist entry "\*"/],
    ['allowlist:*.*.example.com', /Invalid egress allowlist entry/],
    ['allowlist:foo*.example.com', /Invalid egress allowlist entry/],
    ['allowlist:http://example.com', /Invalid egress allowlist entry/],
    ['allowlist:example.com:443', /Invalid egress allowlist entry/],
    ['allowlist:exa mple.com', /Invalid egress allowlist entry/],
    ['allowlist:-bad.com', /Invalid egress allowlist entry/],
    ['allowlist:10.0.0.1', /not IP addresses/],
    ['allowlist:[::1]', /not IP addresses/],
  ])('rejects %j with a clear message', (text, message) => {
    expect(() => parseEgressPolicy(text)).toThrow(message);
  });
});

describe('matchesAllowlist', () => {
  const patterns = ['example.com', '*.pypi.org'];

  it.each([
    ['example.com', true],
    ['EXAMPLE.COM', true],
    ['example.com.', true],
    ['files.pypi.org', true],
    ['a.b.pypi.org', true],
    ['Files.PyPI.org.', true],
    // Not the bare suffix of a wildcard unless listed itself.
    ['pypi.org', false],
    // An exact entry does not cover subdomains.
    ['www.example.com', false],
    // Lookalikes: suffix without the dot, prefix, embedded.
    ['evil-example.com', false],
    ['notpypi.org', false],
    ['example.com.evil.net', false],
    ['pypi.org.evil.net', false],
    ['example.co', false],
    ['', false],
    ['127.0.0.1', false],
    ['example.com..', false],
  ])('%j → %s', (host, expected) => {
    expect(matchesAllowlist(host, patterns)).toBe(expected);
  });
});

describe('isHostAllowed', () => {
  it('none refuses every host, internet admits every host (addresses are checked separately)', () => {
    expect(isHostAllowed({ mode: 'none' }, 'example.com')).toBe(false);
    expect(isHostAllowed({ mode: 'internet' }, 'example.com')).toBe(true);
    expect(isHostAllowed({ mode: 'internet' }, '10.0.0.1')).toBe(true);
  });

  it('an allowlist never admits an IP literal', () => {
    expect(isHostAllowed({ mode: 'allowlist', domains: ['example.com'] }, '93.184.216.34')).toBe(false);
  });
});

describe('normalizeHostName', () => {
  it('lower-cases and drops one trailing dot; rejects what is not a DNS name', () => {
    expect(normalizeHostName('Example.COM.')).toBe('example.com');
    expect(normalizeHostName('a_b.example')).toBe('a_b.example');
    for (const bad of ['', '.', 'a..b', 'a b', 'ex\u00e4mple.com', '1.2.3.4', '::1', `${'a'.repeat(64)}.com`]) {
      expect(normalizeHostName(bad)).toBeNull();
    }
  });
});

describe('egressPolicySchema', () => {
  it('accepts the text form and the object form, normalizing domains', () => {
    expect(egressPolicySchema.parse('internet')).toEqual({ mode: 'internet' });
    expect(egressPolicySchema.parse({ mode: 'allowlist', domains: ['A.com', 'a.com.', '*.B.org'] })).toEqual({
      mode: 'allowlist',
      domains: ['a.com', '*.b.org'],
    });
    expect(egressPolicySchema.parse({ mode: 'none' })).toEqual({ mode: 'none' });
  });

  it('rejects bad entries, empty allowlists, unknown modes and extra keys', () => {
    expect(egressPolicySchema.safeParse({ mode: 'allowlist', domains: ['10.0.0.1'] }).success).toBe(false);
    expect(egressPolicySchema.safeParse({ mode: 'allowlist', domains: [] }).success).toBe(false);
    expect(egressPolicySchema.safeParse({ mode: 'everything' }).success).toBe(false);
    expect(egressPolicySchema.safeParse({ mode: 'none', domains: ['a.com'] }).success).toBe(false);
    expect(egressPolicySchema.safeParse('allowlist:*').success).toBe(false);
  });
});

it('describeEgressPolicy gives one line', () => {
  const policy: EgressPolicy = { mode: 'allowlist', domains: ['a.com', '*.b.org'] };
  expect(describeEgressPolicy(policy)).toBe('allowlist (a.com, *.b.org)');
  expect(describeEgressPolicy({ mode: 'none' })).toBe('none');
});
