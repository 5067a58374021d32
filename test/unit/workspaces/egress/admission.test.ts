/**
 * The proxy's per-destination decision (src/workspaces/egress/admission.ts): policy first (so names
 * outside an allowlist are never even resolved), then one resolution whose every address must be
 * permitted. Resolving once and connecting to the vetted addresses is what defeats DNS rebinding.
 */
import { admit, type AdmissionDeps } from '../../../../src/workspaces/egress/admission';
import { isPublicUnicast } from '../../../../src/workspaces/egress/destination';
import type { EgressPolicy } from '../../../../src/workspaces/egress/policy';

function deps(policy: EgressPolicy, answers: Record<string, string[]>): AdmissionDeps & { looked: string[] } {
  const looked: string[] = [];
  return {
    policy,
    looked,
    isPermittedAddress: isPublicUnicast,
    timeoutMs: 200,
    lookup: async (host) => {
      looked.push(host);
      const answer = answers[host];
      if (!answer) throw new Error('ENOTFOUND');
      return answer;
    },
  };
}

const allowlist: EgressPolicy = { mode: 'allowlist', domains: ['example.com', '*.pypi.org'] };

describe('admit', () => {
  it('admits an allowlisted name whose addresses are all public, returning them in order', async () => {
    const d = deps(allowlist, { 'files.pypi.org': ['151.101.0.223', '2a04:4e42::223'] });
    await expect(admit({ host: 'Files.PyPI.org.', port: 443 }, d)).resolves.toEqual({
      ok: true,
      addresses: ['151.101.0.223', '2a04:4e42::223'],
    });
    expect(d.looked).toEqual(['files.pypi.org']);
  });

  it('refuses everything under none, without resolving', async () => {
    const d = deps({ mode: 'none' }, { 'example.com': ['93.184.216.34'] });
    await expect(admit({ host: 'example.com', port: 443 }, d)).resolves.toMatchObject({
      ok: false,
      status: 403,
      reason: 'chatd egress: this workspace has no network access',
    });
    expect(d.looked).toEqual([]);
  });

  // Resolving a name outside the allowlist would already leak it to DNS.
  it('refuses a name outside the allowlist without resolving it', async () => {
    const d = deps(allowlist, { 'evil-example.com': ['93.184.216.35'] });
    await expect(admit({ host: 'evil-example.com', port: 443 }, d)).resolves.toMatchObject({
      ok: false,
      status: 403,
      reason: "chatd egress: evil-example.com is not in this workspace's allowlist",
    });
    expect(d.looked).toEqual([]);
  });

  it('refuses an allowlisted name that resolves to loopback (DNS rebinding)', async () => {
    const d = deps(allowlist, { 'example.com': ['127.0.0.1'] });
    const result = await admit({ host: 'example.com', port: 80 }, d);
    expect(result).toMatchObject({ ok: false, status: 403, detail: 'private_address' });
    expect(!result.ok && result.reason).toMatch(/example\.com resolves to a private or host address \(127\.0\.0\.1\)/);
  });

  it('refuses when any one of several addresses is private', async () => {
    const d = deps({ mode: 'internet' }, { 'mixed.test': ['93.184.216.34', '10.0.0.5'] });
    await expect(admit({ host: 'mixed.test', port: 443 }, d)).resolves.toMatchObject({ ok: false, status: 403 });
  });

  it('checks IP literals directly: private refused under internet, any refused under an allowlist', async () => {
    const internet = deps({ mode: 'internet' }, {});
    await expect(admit({ host: '169.254.169.254', port: 80 }, internet)).resolves.toMatchObject({
      ok: false,
      status: 403,
      detail: 'private_address',
    });
    await expect(admit({ host: '::ffff:127.0.0.1', port: 80 }, internet)).resolves.toMatchObject({ ok: false });
    await expect(admit({ host: '93.184.216.34', port: 443 }, internet)).resolves.toEqual({
      ok: true,
      addresses: ['93.184.216.34'],
    });
    await expect(admit({ host: '93.184.216.34', port: 443 }, deps(allowlist, {}))).resolves.toMatchObject({
      ok: false,
      detail: 'not_allowlisted',
    });
    expect(internet.looked).toEqual([]);
  });

  it('answers 400 for a malformed host and 502 for a failed, empty or slow lookup', async () => {
    const d = deps({ mode: 'internet' }, { 'empty.test': [] });
    await expect(admit({ host: 'bad host', port: 80 }, d)).resolves.toMatchObject({ ok: false, status: 400 });
    await expect(admit({ host: 'missing.test', port: 80 }, d)).resolves.toMatchObject({
      ok: false,
      status: 502,
      reason: 'chatd egress: could not resolve missing.test',
    });
    await expect(admit({ host: 'empty.test', port: 80 }, d)).resolves.toMatchObject({ ok: false, status: 502 });
    const slow = { ...d, lookup: () => new Promise<string[]>(() => undefined) };
    await expect(admit({ host: 'slow.test', port: 80 }, slow)).resolves.toMatchObject({ ok: false, status: 502 });
  });
});
