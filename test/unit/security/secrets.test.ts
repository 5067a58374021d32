/** AES-256-GCM secret box: round trip, rotation by key id, tamper detection, clear config errors. */
import { SecretBox } from '../../../src/security/secrets';

describe('SecretBox', () => {
  const k1 = SecretBox.generateKeyEntry('k1');
  const k2 = SecretBox.generateKeyEntry('k2');

  it('seals with the first key and opens what it sealed', () => {
    const box = new SecretBox(k1);
    const sealed = box.seal('sk-secret');
    expect(sealed.keyId).toBe('k1');
    expect(sealed.ciphertext.toString('utf8')).not.toContain('sk-secret');
    expect(box.open(sealed)).toBe('sk-secret');
  });

  it('opens secrets sealed with an older key after rotation', () => {
    const old = new SecretBox(k1).seal('v');
    const rotated = new SecretBox(`${k2},${k1}`);
    expect(rotated.open(old)).toBe('v');
    expect(rotated.seal('w').keyId).toBe('k2');
  });

  it('refuses tampered ciphertext and unknown key ids', () => {
    const box = new SecretBox(k1);
    const sealed = box.seal('v');
    sealed.ciphertext[sealed.ciphertext.length - 1]! ^= 1;
    expect(() => box.open(sealed)).toThrow();
    expect(() => box.open({ keyId: 'nope', ciphertext: sealed.ciphertext })).toThrow(/no encryption key/);
  });

  it('rejects malformed key rings', () => {
    expect(() => new SecretBox('')).toThrow(/empty/);
    expect(() => new SecretBox('k1:c2hvcnQ=')).toThrow(/32 bytes/);
    expect(() => new SecretBox('nokey')).toThrow(/<id>:<base64/);
  });
});
