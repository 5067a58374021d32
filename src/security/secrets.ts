/**
 * Encryption at rest for provider API keys and other secrets: AES-256-GCM, with the id of the key
 * stored beside each ciphertext so keys can be rotated (new writes use the first key, reads find
 * theirs by id). Key ring format: `id1:base64key1,id2:base64key2` (32-byte keys).
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

export interface SealedSecret {
  keyId: string;
  /** 12-byte IV ‖ 16-byte auth tag ‖ ciphertext. */
  ciphertext: Buffer;
}

export class SecretBox {
  private readonly keys: Map<string, Buffer>;
  private readonly activeKeyId: string;

  /** Throws when the ring is empty or a key is not 32 bytes of base64. */
  constructor(ring: string) {
    const entries = ring
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean)
      .map((entry) => {
        const sep = entry.indexOf(':');
        if (sep <= 0) throw new Error('encryption key entries must look like <id>:<base64 32-byte key>');
        const key = Buffer.from(entry.slice(sep + 1), 'base64');
        if (key.length !== 32) throw new Error(`encryption key ${entry.slice(0, sep)} is not 32 bytes`);
        return [entry.slice(0, sep), key] as const;
      });
    if (entries.length === 0) throw new Error('the encryption key ring is empty');
    this.keys = new Map(entries);
    this.activeKeyId = entries[0]![0];
  }

  /** A fresh ring entry, for first starts and key rotation. */
  static generateKeyEntry(id: string): string {
    return `${id}:${randomBytes(32).toString('base64')}`;
  }

  /** Whether the ring holds the key with this id (a secret sealed with another key cannot be opened). */
  hasKey(keyId: string): boolean {
    return this.keys.has(keyId);
  }

  /** Encrypts with the active key; `context`, when given, must be passed again to open the secret. */
  seal(plaintext: string, context?: string): SealedSecret {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.keys.get(this.activeKeyId)!, iv);
    if (context !== undefined) cipher.setAAD(Buffer.from(context, 'utf8'));
    const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return { keyId: this.activeKeyId, ciphertext: Buffer.concat([iv, cipher.getAuthTag(), body]) };
  }

  /**
   * Throws when the key id is unknown, the ciphertext was tampered with, or `context` differs from
   * the one it was sealed with (absent and present count as different).
   */
  open(sealed: SealedSecret, context?: string): string {
    const key = this.keys.get(sealed.keyId);
    if (!key) throw new Error(`no encryption key with id ${sealed.keyId} is configured`);
    const decipher = createDecipheriv('aes-256-gcm', key, sealed.ciphertext.subarray(0, 12));
    if (context !== undefined) decipher.setAAD(Buffer.from(context, 'utf8'));
    decipher.setAuthTag(sealed.ciphertext.subarray(12, 28));
    return Buffer.concat([decipher.update(sealed.ciphertext.subarray(28)), decipher.final()]).toString('utf8');
  }
}
