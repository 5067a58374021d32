/**
 * Egress from a real bubblewrap sandbox (src/workspaces/egress/bridge.ts + proxy.ts): curl inside a
 * network-less sandbox reaches a host service only through the bridge and proxy, never directly, and
 * reads the proxy's refusal text. Runs the sandbox as another host uid when the worker is root, as
 * production does, so the socket's 0666 mode is exercised. Needs bwrap, socat and curl: CI installs
 * them, and a host without them fails here rather than skipping.
 */
import { spawn } from 'node:child_process';
import { chmodSync, existsSync } from 'node:fs';
import { findSocat, sandboxNetwork } from '../../../src/workspaces/egress/bridge';
import { isPermittedDestination } from '../../../src/workspaces/egress/destination';
import { startEchoServer, startProxy, type EchoServer, type ProxyFixture } from './egress-support';

const BWRAP = '/usr/bin/bwrap';
const CURL = '/usr/bin/curl';
const SYSTEM_PATH = '/usr/local/bin:/usr/bin:/bin';
const socat = findSocat(SYSTEM_PATH);

let echo: EchoServer;
let fixture: ProxyFixture;

beforeAll(() => {
  const missing = [
    !existsSync(BWRAP) && 'bwrap (Debian package bubblewrap)',
    !socat && 'socat (Debian package socat)',
    !existsSync(CURL) && 'curl (Debian package curl)',
  ].filter(Boolean);
  if (missing.length > 0) {
    throw new Error(`The egress sandbox tests need ${missing.join(', ')}: install them (apt-get install …).`);
  }
});

beforeEach(async () => {
  echo = await startEchoServer();
  fixture = await startProxy({
    policy: { mode: 'internet' },
    lookup: async (host) => (host === 'local.test' ? ['127.0.0.1'] : Promise.reject(new Error('ENOTFOUND'))),
    isPermittedAddress: (ip) => ip === '127.0.0.1' || isPermittedDestination(ip),
  });
  // bwrap runs as the sandbox's host uid and must reach the socket to bind it (mkdtemp made it 0700).
  chmodSync(fixture.dir, 0o711);
});

afterEach(async () => {
  await fixture.cleanup();
  await echo.close();
});

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `command` in a network-less sandbox with the egress bridge, as uid 1000 inside. */
function sandboxed(command: string, socatPath: string = socat ?? 'socat'): Promise<Run> {
  const network = sandboxNetwork(fixture.proxy.socketPath, socatPath);
  const args = ['--die-with-parent', '--unshare-all', '--unshare-user', '--uid', '1000', '--gid', '1000'];
  args.push('--cap-drop', 'ALL', '--ro-bind', '/usr', '/usr', '--ro-bind', '/bin', '/bin');
  args.push('--ro-bind', '/lib', '/lib', '--ro-bind-try', '/lib64', '/lib64', '--ro-bind', '/etc', '/etc');
  args.push(
    '--proc',
    '/proc',
    '--dev',
    '/dev',
    '--tmpfs',
    '/tmp',
    ...network.bwrapArgs,
    '--',
    ...network.wrap(command),
  );
  // As root, run it as an unrelated host uid (as the worker does), which only the socket's mode admits.
  const asOther = process.getuid?.() === 0 ? { uid: 200_000, gid: 200_000 } : {};
  const child = spawn(BWRAP, args, { env: { PATH: SYSTEM_PATH, ...network.env }, ...asOther });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('egress from a bubblewrap sandbox', () => {
  it('reaches an admitted destination through the bridge and proxy, by HTTP and by CONNECT', async () => {
    const run = await sandboxed(
      `curl -sS http://local.test:${echo.port}/plain; echo; curl -sS --proxytunnel http://local.test:${echo.port}/tunnel`,
    );
    expect(run).toMatchObject({ code: 0, stdout: 'echo GET /plain\necho GET /tunnel', stderr: '' });
  });

  // The sandbox has its own network namespace: the host's loopback is not its loopback.
  it('cannot connect to the host loopback service directly', async () => {
    const run = await sandboxed(`curl -sS --noproxy '*' --max-time 5 http://127.0.0.1:${echo.port}/direct`);
    expect(run.code).toBe(7);
    expect(run.stderr).toMatch(/Failed to connect to 127\.0\.0\.1/);
    expect(echo.seen).toHaveLength(0);
  });

  it('gets the proxy refusal as readable text for a private address', async () => {
    const run = await sandboxed('curl -sS http://10.20.30.40/ -w "status=%{http_code}"');
    expect(run.stdout).toBe(
      'chatd egress: 10.20.30.40 is a private or host address; only public internet addresses are reachable ' +
        'from a workspace\nstatus=403',
    );
  });

  it('runs the command verbatim, as `/bin/bash -c` would, and exits with its status', async () => {
    const command = `printf '%s|' "$0" '$(echo not-run)' "$(echo run)"; exit 42`;
    const run = await sandboxed(command);
    expect(run).toMatchObject({ code: 42, stdout: '/bin/bash|$(echo not-run)|run|', stderr: '' });
  });

  it('warns but still runs the command when the bridge cannot start', async () => {
    const run = await sandboxed('echo ran; exit 3', '/nonexistent/socat');
    expect(run.code).toBe(3);
    expect(run.stdout).toBe('ran\n');
    expect(run.stderr).toMatch(/chatd egress: the network bridge did not start/);
  });
});
