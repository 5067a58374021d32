/**
 * The sandbox side of egress (src/workspaces/egress/bridge.ts): the socket's bind mount, the bridge
 * argv the holder runs, and the proxy variables commands get.
 */
import {
  BRIDGE_PORT,
  bridgeArgv,
  egressBind,
  egressEnv,
  SANDBOX_PROXY_SOCKET,
} from '../../../../src/workspaces/egress/bridge';

describe('egress bridge', () => {
  it('binds the host socket at the sandbox path, creating its directory first', () => {
    expect(SANDBOX_PROXY_SOCKET).toBe('/run/chatd/egress.sock');
    expect(egressBind('/var/run/chatd-egress/ws1.sock')).toEqual([
      '--dir',
      '/run/chatd',
      '--bind',
      '/var/run/chatd-egress/ws1.sock',
      SANDBOX_PROXY_SOCKET,
    ]);
  });

  it('points every common client at the bridge on loopback, but not loopback itself', () => {
    const url = `http://127.0.0.1:${BRIDGE_PORT}`;
    expect(egressEnv()).toMatchObject({
      HTTP_PROXY: url,
      HTTPS_PROXY: url,
      http_proxy: url,
      https_proxy: url,
      npm_config_proxy: url,
      npm_config_https_proxy: url,
      PIP_PROXY: url,
      NO_PROXY: 'localhost,127.0.0.1,::1',
      no_proxy: 'localhost,127.0.0.1,::1',
    });
    expect(egressEnv()).not.toHaveProperty('ALL_PROXY');
  });

  it('runs the bridge in the foreground for a long-lived holder', () => {
    expect(bridgeArgv('/usr/bin/socat', 8080)).toEqual([
      '/usr/bin/socat',
      'TCP-LISTEN:8080,bind=127.0.0.1,fork,reuseaddr',
      'UNIX-CONNECT:/run/chatd/egress.sock',
    ]);
    expect(() => bridgeArgv('/usr/bin/socat', 0)).toThrow(/Invalid bridge port/);
  });
});
