/**
 * Provider keys bound to their base URL (src/security/provider-keys.ts): a key opens only for the
 * URL it was sealed for, so a base_url rewritten in the database (even together with the stored
 * URL column) does not release it; keys stored before binding keep working for the URL the
 * migration recorded and come back re-sealed.
 */
import {
  decryptBoundKey,
  normaliseBaseUrl,
  openProviderKey,
  sealProviderKey,
  type StoredProviderKey,
} from '../../../src/security/provider-keys';
import { SecretBox } from '../../../src/security/secrets';

const secrets = new SecretBox(SecretBox.generateKeyEntry('k1'));
const URL_A = 'https://api.example.test/v1';
const EVIL = 'http://attacker.test:8000/v1';

function row(apiKey: string, boundTo: string | null, baseUrl: string | null): StoredProviderKey {
  const sealed = sealProviderKey(secrets, apiKey, boundTo);
  return {
    api_key_ciphertext: sealed.ciphertext,
    api_key_key_id: sealed.keyId,
    api_key_base_url: sealed.baseUrl,
    base_url: baseUrl,
  };
}

describe('normaliseBaseUrl', () => {
  it.each([
    [null, ''],
    ['', ''],
    [' https://x.test/v1/ ', 'https://x.test/v1'],
    ['https://x.test//', 'https://x.test'],
  ])('%p → %p', (input, expected) => expect(normaliseBaseUrl(input)).toBe(expected));
});

describe('openProviderKey', () => {
  it('opens a key for the URL it was sealed for, also with a trailing slash', () => {
    expect(openProviderKey(secrets, row('sk-1', URL_A, URL_A))).toEqual({ state: 'confirmed', apiKey: 'sk-1' });
    expect(openProviderKey(secrets, row('sk-1', URL_A, `${URL_A}/`))).toMatchObject({ state: 'confirmed' });
    expect(openProviderKey(secrets, row('sk-1', null, null))).toMatchObject({ state: 'confirmed' });
  });

  it('keeps the key back once base_url changed', () => {
    const stored = row('sk-1', URL_A, EVIL);
    expect(openProviderKey(secrets, stored)).toEqual({ state: 'unconfirmed' });
  });

  it('keeps the key back when the stored URL was rewritten too (the ciphertext is bound to the old one)', () => {
    const stored = { ...row('sk-1', URL_A, URL_A), base_url: EVIL, api_key_base_url: EVIL };
    expect(openProviderKey(secrets, stored)).toEqual({ state: 'unconfirmed' });
  });

  it('keeps back a key without a recorded URL and reports none without a key', () => {
    expect(openProviderKey(secrets, { ...row('sk-1', URL_A, URL_A), api_key_base_url: null })).toEqual({
      state: 'unconfirmed',
    });
    const none = { api_key_ciphertext: null, api_key_key_id: null, api_key_base_url: null, base_url: URL_A };
    expect(openProviderKey(secrets, none)).toEqual({ state: 'none' });
  });

  it('opens a key stored before binding for the URL the migration recorded, and returns it re-sealed', () => {
    const legacy = secrets.seal('sk-old');
    const stored = {
      api_key_ciphertext: legacy.ciphertext,
      api_key_key_id: 'k1',
      api_key_base_url: URL_A,
      base_url: URL_A,
    };
    const opened = openProviderKey(secrets, stored);
    expect(opened).toMatchObject({ state: 'confirmed', apiKey: 'sk-old', rebound: { baseUrl: URL_A } });
    const rebound = (opened as { rebound: { ciphertext: Buffer; keyId: string; baseUrl: string } }).rebound;
    const boundRow = { api_key_ciphertext: rebound.ciphertext, api_key_key_id: rebound.keyId, api_key_base_url: URL_A };
    expect(openProviderKey(secrets, { ...boundRow, base_url: URL_A })).toEqual({
      state: 'confirmed',
      apiKey: 'sk-old',
    });
    // Once re-sealed, rewriting both URLs no longer works.
    expect(openProviderKey(secrets, { ...boundRow, api_key_base_url: EVIL, base_url: EVIL })).toEqual({
      state: 'unconfirmed',
    });
    // And before, a changed base_url alone is refused too.
    expect(openProviderKey(secrets, { ...stored, base_url: EVIL })).toEqual({ state: 'unconfirmed' });
  });

  it('decrypts for the bound URL whatever base_url is now (what an admin confirmation re-seals)', () => {
    expect(decryptBoundKey(secrets, row('sk-1', URL_A, EVIL))).toEqual({ apiKey: 'sk-1', legacy: false });
    const forged = { ...row('sk-1', URL_A, EVIL), api_key_base_url: EVIL };
    expect(decryptBoundKey(secrets, forged)).toBeUndefined();
  });
});
