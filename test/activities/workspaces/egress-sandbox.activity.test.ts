/**
 * Egress from a real workspace (src/workspaces/workspace-sandbox.ts + egress/): through the provider, as
 * production runs it, curl in a workspace whose policy allows egress reaches a service only through the
 * holder's bridge and the proxy, never directly, and reads the proxy's refusal text; commands of one
 * workspace share its network namespace. The test hook admits 127.0.0.1 as if it were a public address,
 * so the allow path can be proven without the internet. Needs bwrap, socat and curl (CI installs them).
 */
import { isPermittedDestination } from '../../../src/workspaces/egress/destination';
import { detectSandbox } from '../../../src/workspaces/sandbox';
import { createHarness, resultOf, type Harness } from '../tools/support';
import { startEchoServer, type EchoServer } from './egress-support';

let echo: EchoServer;
let h: Harness;

beforeEach(async () => {
  echo = await startEchoServer();
  h = await createHarness({
    network: { mode: 'internet' },
    egressHooks: {
      lookup: async (host) => (host === 'local.test' ? ['127.0.0.1'] : Promise.reject(new Error('ENOTFOUND'))),
      isPermittedAddress: (ip) => ip === '127.0.0.1' || isPermittedDestination(ip),
    },
  });
});

afterEach(async () => {
  await h.cleanup();
  await echo.close();
});

const run = async (command: string): Promise<Record<string, unknown>> =>
  resultOf(await h.call('execute', { command, timeout_ms: 30_000 }));

describe('egress from a workspace', () => {
  it('reaches an admitted destination through the bridge and proxy, by HTTP and by CONNECT', async () => {
    const out = await run(
      `curl -sS http://local.test:${echo.port}/plain; echo; curl -sS --proxytunnel http://local.test:${echo.port}/tunnel`,
    );
    expect(out).toMatchObject({ exit_code: 0, output: 'echo GET /plain\necho GET /tunnel' });
    expect(out.sandbox).toMatch(/^network internet;/);
  });

  // The workspace has its own network namespace: the host's loopback is not its loopback.
  it('cannot connect to the host loopback service directly', async () => {
    const out = await run(`curl -sS --noproxy '*' --max-time 5 http://127.0.0.1:${echo.port}/direct`);
    expect(out.exit_code).toBe(7);
    expect(out.output).toMatch(/Failed to connect to 127\.0\.0\.1/);
    expect(echo.seen).toHaveLength(0);
  });

  it('gets the proxy refusal as readable text for a private address', async () => {
    const out = await run('curl -sS http://10.20.30.40/ -w "status=%{http_code}"');
    expect(out.output).toBe(
      'chatd egress: 10.20.30.40 is a private or host address; only public internet addresses are reachable ' +
        'from a workspace\nstatus=403',
    );
  });

  it("shares one network namespace between a workspace's commands, and no other workspace's", async () => {
    await h.call('execute', {
      command: `python3 -m http.server 18080 --bind 127.0.0.1 >/dev/null 2>&1`,
      run_in_background: true,
    });
    // Wait for the server to listen; the last line is the answer that counted.
    const probe =
      "for i in $(seq 50); do code=$(curl -s --noproxy '*' -o /dev/null -w '%{http_code}' http://127.0.0.1:18080/)" +
      ' && break; sleep 0.1; done; echo "$code"';
    expect(String((await run(probe)).output).trim()).toBe('200');
    const other = await createHarness();
    try {
      const out = resultOf(await other.call('execute', { command: `curl -sS --noproxy '*' http://127.0.0.1:18080/` }));
      expect(out.exit_code).toBe(7);
    } finally {
      await other.cleanup();
    }
  });

  it('refuses commands with an actionable error when socat is missing', async () => {
    const noSocat = await createHarness({
      network: { mode: 'internet' },
      detectSandbox: async (pathEnv, uid) => {
        const found = await detectSandbox(pathEnv, uid);
        return found.ok ? { ok: true, tools: { ...found.tools, socat: null } } : found;
      },
    });
    try {
      const out = await noSocat.call('execute', { command: 'true' });
      expect(out.isError).toBe(true);
      expect(resultOf(out).error).toMatch(/needs socat/);
    } finally {
      await noSocat.cleanup();
    }
  });
});
