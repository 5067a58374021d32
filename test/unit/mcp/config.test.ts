/** The MCP settings of the environment: the public URL OAuth redirect URIs are built on, and the timeouts. */
import { ConfigError, parseConfig } from '../../../src/config';

describe('MCP configuration', () => {
  it('defaults: no public URL, 10 s to connect, 120 s per call without progress, tool lists for 5 minutes', () => {
    const config = parseConfig({});
    expect(config.publicUrl).toBeUndefined();
    expect(config.mcp).toEqual({ connectTimeoutMs: 10_000, callTimeoutMs: 120_000, toolsTtlMs: 300_000 });
  });

  it('takes the public URL without trailing slashes, and the timeouts in seconds', () => {
    const config = parseConfig({
      CHATD_PUBLIC_URL: 'https://chat.example.com/',
      CHATD_MCP_CONNECT_TIMEOUT: '3',
      CHATD_MCP_CALL_TIMEOUT: '600',
      CHATD_MCP_TOOLS_TTL: '0',
    });
    expect(config.publicUrl).toBe('https://chat.example.com');
    expect(config.mcp).toEqual({ connectTimeoutMs: 3_000, callTimeoutMs: 600_000, toolsTtlMs: 0 });
  });

  it.each([
    ['CHATD_PUBLIC_URL', 'ftp://chat.example.com'],
    ['CHATD_PUBLIC_URL', 'not a url'],
    ['CHATD_MCP_CALL_TIMEOUT', '0'],
    ['CHATD_MCP_CONNECT_TIMEOUT', 'ten'],
  ])('refuses %s=%s', (name, value) => {
    expect(() => parseConfig({ [name]: value })).toThrow(ConfigError);
  });
});
