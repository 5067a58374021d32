/** The web push variables: both keys or neither, a subject with them, and keys of one pair. */
import { ConfigError, parseConfig } from '../../../src/config';
import { generateVapidKeyPair } from '../../../src/push/keys';

const issuesOf = (env: Record<string, string>): string[] => {
  try {
    parseConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return err.issues;
    throw err;
  }
  return [];
};

describe('parseConfig: web push', () => {
  const pair = generateVapidKeyPair();
  const keys = { CHATD_VAPID_PUBLIC_KEY: pair.publicKey, CHATD_VAPID_PRIVATE_KEY: pair.privateKey };

  it('is off without keys', () => {
    expect(parseConfig({}).webPush).toEqual({ keys: undefined, subject: undefined });
  });

  it('takes a pair with its subject', () => {
    const config = parseConfig({ ...keys, CHATD_VAPID_SUBJECT: 'mailto:ops@example.com' });
    expect(config.webPush).toEqual({ keys: pair, subject: 'mailto:ops@example.com' });
  });

  it('keeps a subject alone for the embedded start', () => {
    expect(parseConfig({ CHATD_VAPID_SUBJECT: 'https://example.com' }).webPush.subject).toBe('https://example.com');
  });

  it('requires both keys', () => {
    expect(issuesOf({ CHATD_VAPID_PUBLIC_KEY: pair.publicKey, CHATD_VAPID_SUBJECT: 'mailto:a@b.c' })).toEqual([
      expect.stringMatching(/^CHATD_VAPID_PUBLIC_KEY, CHATD_VAPID_PRIVATE_KEY: set both/),
    ]);
  });

  it('requires a subject with the keys', () => {
    expect(issuesOf(keys)).toEqual([expect.stringMatching(/^CHATD_VAPID_SUBJECT: required/)]);
  });

  it('refuses keys of two different pairs', () => {
    const other = generateVapidKeyPair();
    expect(
      issuesOf({ ...keys, CHATD_VAPID_PRIVATE_KEY: other.privateKey, CHATD_VAPID_SUBJECT: 'mailto:a@b.c' }),
    ).toEqual([expect.stringMatching(/^CHATD_VAPID_PRIVATE_KEY: is not the private key/)]);
  });

  it('names every malformed variable', () => {
    const issues = issuesOf({
      CHATD_VAPID_PUBLIC_KEY: 'short',
      CHATD_VAPID_PRIVATE_KEY: 'short',
      CHATD_VAPID_SUBJECT: 'http://example.com',
    }).join('\n');
    for (const name of ['CHATD_VAPID_PUBLIC_KEY', 'CHATD_VAPID_PRIVATE_KEY', 'CHATD_VAPID_SUBJECT'])
      expect(issues).toContain(name);
  });
});
