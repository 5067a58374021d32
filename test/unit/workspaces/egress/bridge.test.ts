/**
 * The sandbox side of egress (src/workspaces/egress/bridge.ts): the socket's bind mount, the proxy
 * variables, and the wrapper argv. The model's command must travel as its own argument, never spliced
 * into the script, or quoting in the command could rewrite the wrapper.
 */
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  BRIDGE_WRAPPER_SCRIPT,
  DEFAULT_BRIDGE_PORT,
  findSocat,
  SANDBOX_PROXY_SOCKET,
  sandboxNetwork,
} from '../../../../src/workspaces/egress/bridge';

describe('sandboxNetwork', () => {
  const net = sandboxNetwork('/var/run/chatd-egress/ws1.sock', '/usr/bin/socat');

  it('binds the host socket at the sandbox path, creating its directory first', () => {
    expect(SANDBOX_PROXY_SOCKET).toBe('/run/chatd/egress.sock');
    expect(net.bwrapArgs).toEqual([
      '--dir',
      '/run/chatd',
      '--bind',
      '/var/run/chatd-egress/ws1.sock',
      SANDBOX_PROXY_SOCKET,
    ]);
  });

  it('points every common client at the bridge on loopback, but not loopback itself', () => {
    const url = `http://127.0.0.1:${DEFAULT_BRIDGE_PORT}`;
    expect(net.env).toMatchObject({
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
    expect(net.env).not.toHaveProperty('ALL_PROXY');
  });

  it('runs the bridge in the foreground for a long-lived holder', () => {
    expect(sandboxNetwork('/h.sock', '/usr/bin/socat', 8080).bridgeArgv).toEqual([
      '/usr/bin/socat',
      'TCP-LISTEN:8080,bind=127.0.0.1,fork,reuseaddr',
      'UNIX-CONNECT:/run/chatd/egress.sock',
    ]);
  });

  it('passes the command as a positional argument to a constant script', () => {
    const command = `echo "$0" '$(reboot)'; exit 3 # "'\``;
    const argv = net.wrap(command);
    expect(argv).toEqual([
      '/bin/bash',
      '-c',
      BRIDGE_WRAPPER_SCRIPT,
      'chatd-egress',
      '/usr/bin/socat',
      '3128',
      SANDBOX_PROXY_SOCKET,
      command,
    ]);
    expect(BRIDGE_WRAPPER_SCRIPT).not.toContain(command);
    expect(sandboxNetwork('/h.sock', '/s', 9).wrap('x', '/usr/bin/bash')[0]).toBe('/usr/bin/bash');
  });

  it('rejects an invalid port', () => {
    expect(() => sandboxNetwork('/h.sock', '/s', 0)).toThrow(/Invalid bridge port/);
    expect(() => sandboxNetwork('/h.sock', '/s', 70000)).toThrow(/Invalid bridge port/);
  });
});

describe('findSocat', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'chatd-socat-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('returns the first executable socat on the path, skipping non-executables and relative entries', () => {
    const a = path.join(dir, 'a');
    const b = path.join(dir, 'b');
    for (const d of [a, b]) mkdirSync(d);
    writeFileSync(path.join(a, 'socat'), '');
    chmodSync(path.join(a, 'socat'), 0o644);
    writeFileSync(path.join(b, 'socat'), '#!/bin/sh\n');
    chmodSync(path.join(b, 'socat'), 0o755);
    // As root, X_OK still needs one execute bit, so the 0644 file is skipped.
    expect(findSocat(`relative:${a}:${b}`)).toBe(path.join(b, 'socat'));
    expect(findSocat(a)).toBeNull();
    expect(findSocat('')).toBeNull();
  });
});
