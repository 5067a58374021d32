/**
 * Reading what a proxy request asks for (src/workspaces/egress/request-target.ts). The model writes
 * these requests, so malformed ones must come back as null (answered 400), never as a half-parsed
 * destination, and forwarding must drop the headers meant for the proxy or the connection.
 */
import {
  forwardableHeaders,
  parseConnectTarget,
  parseHttpTarget,
} from '../../../../src/workspaces/egress/request-target';

describe('parseConnectTarget', () => {
  it.each([
    ['example.com:443', { host: 'example.com', port: 443 }],
    ['EXAMPLE.com.:8443', { host: 'EXAMPLE.com.', port: 8443 }],
    ['1.2.3.4:22', { host: '1.2.3.4', port: 22 }],
    ['[2606:4700::1]:443', { host: '2606:4700::1', port: 443 }],
  ])('reads %j', (authority, expected) => {
    expect(parseConnectTarget(authority)).toEqual(expected);
  });

  it.each([
    undefined,
    '',
    'example.com',
    'example.com:',
    ':443',
    'example.com:0',
    'example.com:65536',
    'example.com:44x',
    'example.com:+443',
    '::1:443',
    '[::1]',
    '[example.com]:443',
    'user@example.com:443',
    'example.com/x:443',
    'exa mple.com:443',
  ])('refuses %j', (authority) => {
    expect(parseConnectTarget(authority)).toBeNull();
  });
});

describe('parseHttpTarget', () => {
  it('reads an absolute http URI: host, default port, path with query, Host header', () => {
    expect(parseHttpTarget('http://Example.com/a/b?c=1#frag')).toEqual({
      host: 'example.com',
      port: 80,
      path: '/a/b?c=1',
      hostHeader: 'example.com',
    });
    expect(parseHttpTarget('http://[2606:4700::1]:8080/')).toEqual({
      host: '2606:4700::1',
      port: 8080,
      path: '/',
      hostHeader: '[2606:4700::1]:8080',
    });
  });

  // The URL parser turns numeric IPv4 spellings into dotted quads, so the address check sees them.
  it('canonicalizes numeric IPv4 spellings', () => {
    expect(parseHttpTarget('http://0x7f.1:81/')?.host).toBe('127.0.0.1');
    expect(parseHttpTarget('http://2130706433/')?.host).toBe('127.0.0.1');
  });

  it.each([undefined, '/relative', 'https://example.com/', 'ftp://example.com/', 'http://u:p@example.com/', 'http://'])(
    'refuses %j',
    (uri) => {
      expect(parseHttpTarget(uri)).toBeNull();
    },
  );
});

describe('forwardableHeaders', () => {
  it('drops hop-by-hop, Proxy-*, Host, Expect and headers named by Connection', () => {
    const out = forwardableHeaders({
      host: 'a',
      connection: 'keep-alive, X-Secret',
      'keep-alive': 'timeout=5',
      'proxy-authorization': 'Basic eA==',
      'proxy-connection': 'keep-alive',
      'transfer-encoding': 'chunked',
      te: 'trailers',
      upgrade: 'websocket',
      expect: '100-continue',
      'x-secret': 'hop',
      'x-kept': 'yes',
      'set-cookie': ['a=1', 'b=2'],
      'content-length': '3',
    });
    expect(out).toEqual({ 'x-kept': 'yes', 'set-cookie': ['a=1', 'b=2'], 'content-length': '3' });
  });
});
