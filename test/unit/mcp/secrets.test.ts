/**
 * MCP secrets are bound to what they belong to: a ciphertext copied to another server, URL or user does
 * not open, so a database write alone cannot point a key at another server or give one user's tokens to
 * another. OAuth states are stored as hashes only.
 */
import { hashState } from '../../../src/mcp/oauth';
import {
  openServerSecrets,
  openTokens,
  openVerifier,
  sealServerSecrets,
  sealTokens,
  sealVerifier,
} from '../../../src/mcp/secrets';
import { SecretBox } from '../../../src/security/secrets';

const box = new SecretBox(SecretBox.generateKeyEntry('k1'));

describe('MCP secrets', () => {
  it('opens server secrets only for the server id and URL they were sealed for', () => {
    const sealed = sealServerSecrets(box, 'server-1', 'https://a.example/mcp', { apiKey: 'secret' })!;
    const row = {
      id: 'server-1',
      url: 'https://a.example/mcp',
      secrets_ciphertext: sealed.ciphertext,
      secrets_key_id: sealed.keyId,
    };
    expect(openServerSecrets(box, row)).toEqual({ apiKey: 'secret' });
    expect(() => openServerSecrets(box, { ...row, url: 'https://evil.example/mcp' })).toThrow();
    expect(() => openServerSecrets(box, { ...row, id: 'server-2' })).toThrow();
    expect(sealServerSecrets(box, 'server-1', 'https://a.example/mcp', {})).toBeNull();
  });

  it('opens tokens and PKCE verifiers only for their server and user', () => {
    const tokens = sealTokens(box, 's', 'alice', { accessToken: 'at', refreshToken: 'rt' });
    const row = { server_id: 's', user_id: 'alice', tokens_ciphertext: tokens.ciphertext, tokens_key_id: tokens.keyId };
    expect(openTokens(box, row)).toEqual({ accessToken: 'at', refreshToken: 'rt' });
    expect(() => openTokens(box, { ...row, user_id: 'bob' })).toThrow();

    const verifier = sealVerifier(box, 's', 'alice', 'v'.repeat(43));
    const state = {
      server_id: 's',
      user_id: 'alice',
      verifier_ciphertext: verifier.ciphertext,
      verifier_key_id: verifier.keyId,
    };
    expect(openVerifier(box, state)).toBe('v'.repeat(43));
    expect(() => openVerifier(box, { ...state, server_id: 't' })).toThrow();
  });

  it('keys OAuth states by their SHA-256', () => {
    expect(hashState('abc').toString('hex')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });
});
