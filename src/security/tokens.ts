/**
 * API tokens: `chatd_` + 43 characters of base64url randomness (256 bits). Only the SHA-256 digest
 * is stored; the token itself is shown once, when it is created.
 */
import { createHash, randomBytes } from 'node:crypto';

export const TOKEN_PREFIX = 'chatd_';

export function generateToken(): string {
  return TOKEN_PREFIX + randomBytes(32).toString('base64url');
}

export function hashToken(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}
