/**
 * The workspace egress proxy (src/workspaces/egress/proxy.ts) on a real Unix socket against a real
 * HTTP server on 127.0.0.1, which stands in for the worker host's own services. The default
 * destination check must refuse it in every mode, however it is named (IP literal, a name resolving to
 * it); only the test hook that admits 127.0.0.1 opens the allow path, proving tunnelling and forwarding
 * work end to end.
 */
import { existsSync, statSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import * as net from 'node:net';
import * as path from 'node:path';
import { startEgressProxy } from '../../../src/workspaces/egress/proxy';
import { isPermittedDestination } from '../../../src/workspaces/egress/destination';
import type { EgressPolicy } from '../../../src/workspaces/egress/policy';
import {
  getThrough,
  openTunnel,
  parseResponse,
  rawExchange,
  startEchoServer,
  startProxy,
  type EchoServer,
  type ProxyFixture,
} from './egress-support';

/** Test-only DNS: these names resolve to the loopback echo server. */
const lookup = async (host: string): Promise<string[]> => {
  if (host === 'rebind.example.com' || host === 'local.test') return ['127.0.0.1'];
  if (host === 'private.test') return ['10.1.2.3'];
  throw new Error('ENOTFOUND');
};
/** Test-only hook: admits the loopback echo server, otherwise the real check. */
const admitLoopback = (ip: string): boolean => ip === '127.0.0.1' || isPermittedDestination(ip);

let echo: EchoServer;
let fixture: ProxyFixture | null = null;

beforeEach(async () => {
  echo = await startEchoServer();
});

afterEach(async () => {
  await fixture?.cleanup();
  fixture = null;
  await echo.close();
});

async function connectVia(policy: EgressPolicy, authority: string, extra: object = {}) {
  fixture = await startProxy({ policy, lookup, ...extra });
  return parseResponse(
    await rawExchange(fixture.proxy.socketPath, `CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n\r\n`),
  );
}

async function getVia(policy: EgressPolicy, uri: string, extra: object = {}) {
  fixture = await startProxy({ policy, lookup, ...extra });
  return parseResponse(
    await rawExchange(fixture.proxy.socketPath, `GET ${uri} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`),
  );
}

describe('refusals (default destination check)', () => {
  // The worker's own services listen on loopback; the sandbox must not reach them through the proxy.
  it.each<[string, EgressPolicy]>([
    ['internet', { mode: 'internet' }],
    ['allowlist', { mode: 'allowlist', domains: ['rebind.example.com'] }],
  ])('refuses a name resolving to loopback under %s (DNS rebinding), for CONNECT and HTTP', async (_, policy) => {
    const tunnel = await connectVia(policy, `rebind.example.com:${echo.port}`);
    expect(tunnel.status).toBe(403);
    expect(tunnel.body).toBe(
      'chatd egress: rebind.example.com resolves to a private or host address (127.0.0.1); ' +
        'only public internet addresses are reachable from a workspace\n',
    );
    await fixture?.cleanup();
    const forwarded = await getVia(policy, `http://rebind.example.com:${echo.port}/`);
    expect(forwarded.status).toBe(403);
    expect(forwarded.body).toMatch(/resolves to a private or host address/);
    expect(echo.seen).toHaveLength(0);
  });

  it.each(['127.0.0.1', '[::1]', '[::ffff:127.0.0.1]', '169.254.169.254', '10.0.0.1'])(
    'refuses the IP literal %s under internet',
    async (host) => {
      const res = await connectVia({ mode: 'internet' }, `${host}:${echo.port}`);
      expect(res.status).toBe(403);
      expect(res.body).toMatch(/is a private or host address/);
    },
  );

  it('refuses numeric spellings of loopback in forwarded requests', async () => {
    const res = await getVia({ mode: 'internet' }, `http://0x7f.1:${echo.port}/`);
    expect(res.status).toBe(403);
    expect(res.body).toMatch(/127\.0\.0\.1 is a private or host address/);
    expect(echo.seen).toHaveLength(0);
  });

  it('refuses a name outside the allowlist and logs the refusal with host and reason', async () => {
    const res = await connectVia({ mode: 'allowlist', domains: ['*.example.com'] }, 'evil-example.com:443');
    expect(res.status).toBe(403);
    expect(res.body).toBe("chatd egress: evil-example.com is not in this workspace's allowlist\n");
    expect(fixture?.refusals).toEqual([
      { host: 'evil-example.com', port: 443, kind: 'connect', reason: 'not_allowlisted' },
    ]);
  });

  it('refuses everything under none, even with the loopback hook', async () => {
    const res = await getVia({ mode: 'none' }, `http://local.test:${echo.port}/`, {
      isPermittedAddress: admitLoopback,
    });
    expect(res.status).toBe(403);
    expect(res.body).toBe('chatd egress: this workspace has no network access\n');
  });

  it('answers 400 to malformed requests and 502 to unresolvable names', async () => {
    expect((await connectVia({ mode: 'internet' }, 'no-port.test')).status).toBe(400);
    await fixture?.cleanup();
    const relative = await getVia({ mode: 'internet' }, '/just/a/path');
    expect(relative.status).toBe(400);
    expect(relative.body).toMatch(/expected an absolute http:\/\/ URL/);
    await fixture?.cleanup();
    const missing = await getVia({ mode: 'internet' }, 'http://missing.test/');
    expect(missing.status).toBe(502);
    expect(missing.body).toBe('chatd egress: could not resolve missing.test\n');
  });
});

describe('the allow path (test hook admits 127.0.0.1)', () => {
  const policy: EgressPolicy = { mode: 'allowlist', domains: ['local.test'] };

  it('tunnels CONNECT to the vetted address', async () => {
    fixture = await startProxy({ policy, lookup, isPermittedAddress: admitLoopback });
    const tunnel = await openTunnel(fixture.proxy.socketPath, `local.test:${echo.port}`);
    const answer = parseResponse(await getThrough(tunnel, 'local.test', '/through-tunnel'));
    expect(answer.status).toBe(200);
    expect(answer.body).toBe('echo GET /through-tunnel');
  });

  it('forwards plain HTTP, sending the URI authority as Host and dropping proxy and hop-by-hop headers', async () => {
    fixture = await startProxy({ policy, lookup, isPermittedAddress: admitLoopback });
    const res = parseResponse(
      await rawExchange(
        fixture.proxy.socketPath,
        `GET http://local.test:${echo.port}/page?q=1 HTTP/1.1\r\nHost: other.host\r\n` +
          'Proxy-Authorization: Basic c2VjcmV0\r\nConnection: close, X-Hop\r\nX-Hop: 1\r\nX-Kept: 2\r\n\r\n',
      ),
    );
    expect(res.status).toBe(200);
    expect(res.body).toBe('echo GET /page?q=1');
    expect(res.head.toLowerCase()).not.toContain('proxy-authenticate');
    expect(echo.seen[0]?.headers).toMatchObject({ host: `local.test:${echo.port}`, 'x-kept': '2' });
    expect(echo.seen[0]?.headers).not.toHaveProperty('proxy-authorization');
    expect(echo.seen[0]?.headers).not.toHaveProperty('x-hop');
  });

  it('answers 502 when the vetted address refuses the connection', async () => {
    const closed = net.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as net.AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const res = await connectVia(policy, `local.test:${port}`, { isPermittedAddress: admitLoopback });
    expect(res.status).toBe(502);
    expect(res.body).toMatch(/could not connect to local\.test:\d+ \(ECONNREFUSED\)/);
  });

  // An adversarial command could otherwise hold unbounded sockets open in the worker.
  it('caps concurrent tunnels, answering 503 beyond the cap and admitting again once one closes', async () => {
    fixture = await startProxy({ policy, lookup, isPermittedAddress: admitLoopback, maxConnections: 2 });
    const socketPath = fixture.proxy.socketPath;
    const first = await openTunnel(socketPath, `local.test:${echo.port}`);
    const second = await openTunnel(socketPath, `local.test:${echo.port}`);
    await expect(openTunnel(socketPath, `local.test:${echo.port}`)).rejects.toThrow(
      /^HTTP\/1\.1 503[\s\S]*too many open connections from this workspace \(limit 2\)/,
    );
    first.destroy();
    await new Promise((resolve) => setTimeout(resolve, 100));
    const third = await openTunnel(socketPath, `local.test:${echo.port}`);
    expect(parseResponse(await getThrough(third, 'local.test', '/again')).body).toBe('echo GET /again');
    second.destroy();
  });
});

describe('lifecycle', () => {
  it('listens with mode 0666, and close() ends open tunnels and removes the socket file', async () => {
    fixture = await startProxy({
      policy: { mode: 'allowlist', domains: ['local.test'] },
      lookup,
      isPermittedAddress: admitLoopback,
    });
    const { socketPath } = fixture.proxy;
    expect(statSync(socketPath).mode & 0o777).toBe(0o666);
    const tunnel = await openTunnel(socketPath, `local.test:${echo.port}`);
    const ended = new Promise((resolve) => tunnel.on('close', resolve));
    await fixture.proxy.close();
    await ended;
    expect(existsSync(socketPath)).toBe(false);
  });

  it('replaces a stale socket but refuses to remove any other file', async () => {
    fixture = await startProxy({ policy: { mode: 'none' } });
    const stale = path.join(fixture.dir, 'stale.sock');
    // A process that exits while listening leaves its socket file behind.
    const script = `require('net').createServer().listen(${JSON.stringify(stale)}, () => process.exit(0))`;
    expect(spawnSync(process.execPath, ['-e', script]).status).toBe(0);
    expect(existsSync(stale)).toBe(true);
    const replaced = await startEgressProxy({ socketPath: stale, policy: { mode: 'none' } });
    expect((await rawExchange(stale, 'CONNECT a.test:1 HTTP/1.1\r\n\r\n')).startsWith('HTTP/1.1 403')).toBe(true);
    await replaced.close();

    const regular = path.join(fixture.dir, 'regular');
    writeFileSync(regular, 'keep me');
    await expect(startEgressProxy({ socketPath: regular, policy: { mode: 'none' } })).rejects.toThrow(
      /exists and is not a socket/,
    );
    expect(existsSync(regular)).toBe(true);
  });
});
