/**
 * Types for `http_ece` (Encrypted Content-Encoding for HTTP, RFC 8188), which ships none: only the
 * decryption the fake push service uses, for the aes128gcm web push scheme of RFC 8291.
 */
declare module 'http_ece' {
  import type { ECDH } from 'node:crypto';

  export interface DecryptParams {
    version: 'aes128gcm';
    /** The receiver's (the browser's) key pair; the sender's public key is read from the record header. */
    privateKey: ECDH;
    /** The subscription's 16-byte auth secret. */
    authSecret: Buffer;
  }

  export function decrypt(buffer: Buffer, params: DecryptParams): Buffer;
}
