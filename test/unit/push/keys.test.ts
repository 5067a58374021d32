/**
 * The key checks behind config parsing and the subscribe route: what counts as base64url, a P-256
 * public key, an auth secret, a VAPID pair and a VAPID subject. A key that passes here must be one a
 * push can be encrypted to or signed with; anything else must fail before it is stored or used.
 */
import { createECDH, randomBytes } from 'node:crypto';
import {
  decodeBase64Url,
  generateVapidKeyPair,
  isAuthSecret,
  isP256PrivateKey,
  isP256PublicKey,
  isVapidKeyPair,
  isVapidSubject,
} from '../../../src/push/keys';

const browserKey = (): string => {
  const ecdh = createECDH('prime256v1');
  ecdh.generateKeys();
  return ecdh.getPublicKey().toString('base64url');
};

describe('decodeBase64Url', () => {
  it.each([
    ['AQID', [1, 2, 3]],
    ['AQI', [1, 2]],
    ['AQI=', [1, 2]],
    ['_-8', [0xff, 0xef]],
    ['', []],
  ])('decodes %j', (text, bytes) => {
    expect([...decodeBase64Url(text)!]).toEqual(bytes);
  });

  it.each([
    ['standard base64 characters', 'a+b/'],
    ['whitespace', 'AQ ID'],
    ['a lone trailing character', 'AQIDB'],
    ['padding that does not complete the quantum', 'AQI=='],
    ['non-canonical trailing bits', 'AQJ'],
  ])('refuses %s', (_what, text) => {
    expect(decodeBase64Url(text)).toBeNull();
  });
});

describe('subscription keys', () => {
  it('accepts a browser’s P-256 public key and a 16-byte auth secret', () => {
    expect(isP256PublicKey(browserKey())).toBe(true);
    expect(isAuthSecret(randomBytes(16).toString('base64url'))).toBe(true);
  });

  it('refuses public keys of the wrong size, compressed or off the curve', () => {
    const key = Buffer.from(browserKey(), 'base64url');
    const compressed = createECDH('prime256v1');
    compressed.generateKeys();
    const offCurve = Buffer.alloc(65, 7);
    offCurve[0] = 4;
    expect(isP256PublicKey(key.subarray(0, 64).toString('base64url'))).toBe(false);
    expect(isP256PublicKey(compressed.getPublicKey('base64url', 'compressed'))).toBe(false);
    expect(isP256PublicKey(offCurve.toString('base64url'))).toBe(false);
    expect(isP256PublicKey(`${key.toString('base64url').slice(0, -1)}/`)).toBe(false);
  });

  it('refuses auth secrets that are not 16 bytes', () => {
    expect(isAuthSecret(randomBytes(15).toString('base64url'))).toBe(false);
    expect(isAuthSecret(randomBytes(32).toString('base64url'))).toBe(false);
    expect(isAuthSecret('not base64url!')).toBe(false);
  });
});

describe('VAPID keys', () => {
  it('generates a pair that passes every check', () => {
    const pair = generateVapidKeyPair();
    expect(isP256PublicKey(pair.publicKey)).toBe(true);
    expect(isP256PrivateKey(pair.privateKey)).toBe(true);
    expect(isVapidKeyPair(pair)).toBe(true);
  });

  it('tells a private key of another pair', () => {
    const a = generateVapidKeyPair();
    const b = generateVapidKeyPair();
    expect(isVapidKeyPair({ publicKey: a.publicKey, privateKey: b.privateKey })).toBe(false);
  });

  it('refuses private keys of the wrong size or out of range', () => {
    expect(isP256PrivateKey(randomBytes(31).toString('base64url'))).toBe(false);
    expect(isP256PrivateKey(Buffer.alloc(32, 0).toString('base64url'))).toBe(false);
    expect(isP256PrivateKey(Buffer.alloc(32, 0xff).toString('base64url'))).toBe(false);
  });

  it.each([
    ['mailto:ops@example.com', true],
    ['https://chatd.example.com/contact', true],
    ['http://chatd.example.com', false],
    ['mailto:nobody', false],
    ['ops@example.com', false],
    ['', false],
  ])('subject %j valid: %s', (subject, valid) => {
    expect(isVapidSubject(subject)).toBe(valid);
  });
});
