/**
 * The key material of web push, checked strictly at every edge: chatd's VAPID key pair (the P-256
 * pair push services authenticate chatd's requests with), and the keys a browser's subscription
 * carries (its P-256 public key and 16-byte auth secret, which the payload is encrypted to). Config
 * parsing and the subscribe route both validate with these functions, so both accept the same keys.
 */
import { ECDH, createECDH } from 'node:crypto';
import webpush from 'web-push';

/** What sending needs besides the subscription: chatd's key pair and its contact (`sub` claim). */
export interface VapidDetails {
  /** Uncompressed P-256 public key, base64url (65 bytes decoded). */
  publicKey: string;
  /** P-256 private scalar, base64url (32 bytes decoded). */
  privateKey: string;
  /** A `mailto:` address or an `https:` URL where the push service can reach the operator. */
  subject: string;
}

export type VapidKeyPair = Omit<VapidDetails, 'subject'>;

/** Decoded size of an uncompressed P-256 point: 0x04, then x and y of 32 bytes each. */
const P256_PUBLIC_KEY_BYTES = 65;
const P256_PRIVATE_KEY_BYTES = 32;
/** The subscription's auth secret is 16 random bytes (RFC 8291, section 3.2). */
export const AUTH_SECRET_BYTES = 16;

const BASE64URL = /^[A-Za-z0-9_-]*={0,2}$/;

/**
 * Decodes base64url text, or returns null when it is not canonical base64url (other characters,
 * bad padding, or trailing bits that re-encoding would not reproduce). Padding is optional.
 */
export function decodeBase64Url(text: string): Buffer | null {
  if (!BASE64URL.test(text)) return null;
  const bare = text.replace(/=+$/, '');
  if (bare.length % 4 === 1) return null;
  // Padding, when present, must complete the last quantum.
  if (text.length !== bare.length && text.length % 4 !== 0) return null;
  const bytes = Buffer.from(bare, 'base64url');
  return bytes.toString('base64url') === bare ? bytes : null;
}

/** True for base64url of an uncompressed point that lies on the P-256 curve. */
export function isP256PublicKey(text: string): boolean {
  const bytes = decodeBase64Url(text);
  if (bytes?.length !== P256_PUBLIC_KEY_BYTES || bytes[0] !== 0x04) return false;
  try {
    // Throws unless the point is on the curve (an encryption to it would fail later, at send time).
    ECDH.convertKey(bytes, 'prime256v1');
    return true;
  } catch {
    return false;
  }
}

/** True for base64url of exactly 16 bytes: a subscription's auth secret. */
export function isAuthSecret(text: string): boolean {
  return decodeBase64Url(text)?.length === AUTH_SECRET_BYTES;
}

/** True for base64url of a 32-byte P-256 private key. */
export function isP256PrivateKey(text: string): boolean {
  const bytes = decodeBase64Url(text);
  if (bytes?.length !== P256_PRIVATE_KEY_BYTES) return false;
  try {
    createECDH('prime256v1').setPrivateKey(bytes);
    return true;
  } catch {
    return false;
  }
}

/** True when `privateKey` is the private half of `publicKey` (both already valid on their own). */
export function isVapidKeyPair(pair: VapidKeyPair): boolean {
  const ecdh = createECDH('prime256v1');
  ecdh.setPrivateKey(decodeBase64Url(pair.privateKey)!);
  return ecdh.getPublicKey().equals(decodeBase64Url(pair.publicKey)!);
}

/** True for what push services accept as the VAPID subject: a `mailto:` address or an `https:` URL. */
export function isVapidSubject(text: string): boolean {
  try {
    const url = new URL(text);
    return (url.protocol === 'mailto:' && url.pathname.includes('@')) || (url.protocol === 'https:' && !!url.hostname);
  } catch {
    return false;
  }
}

/** A fresh VAPID key pair. */
export function generateVapidKeyPair(): VapidKeyPair {
  const { publicKey, privateKey } = webpush.generateVAPIDKeys();
  return { publicKey, privateKey };
}
