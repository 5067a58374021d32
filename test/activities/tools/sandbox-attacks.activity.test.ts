/**
 * The workspace sandbox under attack, as a model would attack it: every command and path below is one
 * a model could send through `execute`, `read_file` or `write_file`. Runs against the real sandbox
 * (bubblewrap, nsenter, prlimit from Debian's packages, installed by .ci/run); nothing is skipped.
 * docs/workspaces.md lists the properties these tests prove.
 */
import { createServer, type Server } from 'node:http';
import { readFileSync } from 'node:fs';
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { createHarness, resultOf, sleeping, uniqueSleep, waitFor, type Harness } from './support';

/** Every TCP socket listening on this host (the test stack: PostgreSQL, Temporal, servers of this file). */
function listeningPorts(): Array<{ host: string; port: number }> {
  const found = new Map<string, { host: string; port: number }>();
  for (const [file, v6] of [
    ['/proc/net/tcp', false],
    ['/proc/net/tcp6', true],
  ] as const) {
    let text = '';
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.trim().split('\n').slice(1)) {
      const [, local, , state] = line.trim().split(/\s+/);
      if (state !== '0A' || !local) continue; // 0A = LISTEN
      const [hex, portHex] = local.split(':');
      const port = parseInt(portHex!, 16);
      const host = v6 ? (hex === '00000000000000000000000000000000' ? '::1' : '::1') : ipv4(hex!);
      found.set(`${host}:${port}`, { host: host === '0.0.0.0' ? '127.0.0.1' : host, port });
    }
  }
  return [...found.values()];
}

function ipv4(hex: string): string {
  const bytes = hex.match(/../g)!.map((b) => parseInt(b, 16));
  return bytes.reverse().join('.');
}

/** The host's own non-loopback IPv4 addresses. */
function hostAddresses(): string[] {
  return Object.values(os.networkInterfaces())
    .flat()
    .filter((a) => a && a.family === 'IPv4' && !a.internal)
    .map((a) => a!.address);
}

describe('the sandbox against a hostile model', () => {
  let h: Harness;
  let server: Server;
  let serverPort: number;

  beforeAll(async () => {
    server = createServer((_req, res) => res.end('host service'));
    await new Promise<void>((resolve) => server.listen(0, '0.0.0.0', resolve));
    serverPort = (server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
  });

  beforeEach(async () => {
    h = await createHarness({ limits: { processes: 64, memoryMb: 256, fileSizeMb: 5 } });
  });
  afterEach(async () => {
    await h.cleanup();
  });

  it('reaches no service of the host: not loopback, not the host addresses', async () => {
    const targets = listeningPorts();
    // The test stack listens here (PostgreSQL, Temporal, this file's server): otherwise this proves nothing.
    expect(targets.length).toBeGreaterThanOrEqual(3);
    expect(targets.some((t) => t.port === serverPort)).toBe(true);
    for (const address of hostAddresses()) targets.push({ host: address, port: serverPort });
    targets.push({ host: '10.0.2.2', port: serverPort }, { host: '169.254.169.254', port: 80 });

    // The same probe from the host connects, so a refusal inside is the sandbox's doing.
    const probe = (t: { host: string; port: number }): string =>
      `if timeout 2 bash -c 'exec 3<>/dev/tcp/${t.host}/${t.port}' 2>/dev/null; then echo "OPEN ${t.host}:${t.port}"; fi`;
    const { execSync } = await import('node:child_process');
    expect(execSync(probe({ host: '127.0.0.1', port: serverPort }), { shell: '/bin/bash' }).toString()).toContain(
      'OPEN',
    );

    const out = await h.call('execute', {
      command: targets.map(probe).join('\n') + '\necho probed',
      timeout_ms: 120_000,
    });
    expect(resultOf(out).output).toContain('probed');
    expect(resultOf(out).output).not.toContain('OPEN');
    expect(resultOf(out).sandbox).toMatch(/^network none;/);
  });

  it('runs as an unprivileged uid with no capabilities, no new privileges and no host secrets', async () => {
    const out = await h.call('execute', {
      command: [
        'id -u',
        'grep -E "^(CapEff|CapBnd|CapPrm|NoNewPrivs)" /proc/self/status',
        'cat /etc/shadow >/dev/null 2>&1 && echo SHADOW-READ',
        'unshare -U true 2>/dev/null && echo NEW-USERNS',
        'ls /root >/dev/null 2>&1 && echo ROOT-HOME',
        'ls /proc | grep -cE "^[0-9]+$"',
      ].join('\n'),
    });
    const output = String(resultOf(out).output);
    expect(output.split('\n')[0]).toBe('1000');
    expect(output).toMatch(/CapEff:\s+0{16}/);
    expect(output).toMatch(/CapBnd:\s+0{16}/);
    expect(output).toMatch(/NoNewPrivs:\s+1/);
    expect(output).not.toMatch(/SHADOW-READ|NEW-USERNS|ROOT-HOME/);
    // Its own PID namespace: a handful of processes, never the worker's.
    expect(Number(output.trim().split('\n').pop())).toBeLessThan(10);

    // On the host, the command's processes belong to the workspace's own unprivileged uid.
    const nap = uniqueSleep();
    await h.workspace.startProcess({ command: `sleep ${nap}`, owner: 'chat-a' });
    await waitFor(() => sleeping(nap));
    const pid = (await readdir('/proc')).find((p) => {
      try {
        return readFileSync(`/proc/${p}/cmdline`, 'utf8') === `sleep\0${nap}\0`;
      } catch {
        return false;
      }
    });
    const uid = Number(/^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);
    expect(uid).not.toBe(0);
    expect(uid).not.toBe(process.getuid!());
  });

  it("cannot see the worker's processes, environment or files", async () => {
    process.env.CHATD_TEST_WORKER_SECRET = 'worker-secret-4711';
    try {
      const out = await h.call('execute', {
        command: [
          `cat /proc/${process.pid}/environ 2>/dev/null | tr '\\0' '\\n' | grep -c WORKER_SECRET`,
          'cat /proc/*/environ 2>/dev/null | tr "\\0" "\\n" | grep -c worker-secret-4711',
          `ls ${JSON.stringify(process.cwd())} 2>/dev/null | head -3`,
          'env | grep -c -E "DATABASE_URL|TEMPORAL|API_KEY|WORKER_SECRET"',
          'echo done',
        ].join('; '),
      });
      const output = String(resultOf(out).output);
      expect(output.trim().split('\n')).toEqual(['0', '0', '0', 'done']);
    } finally {
      delete process.env.CHATD_TEST_WORKER_SECRET;
    }
  });

  it('survives 1,000 file operations racing a directory/symlink swap with no escape and no stray file', async () => {
    const outside = path.join(h.dir, 'outside');
    await mkdir(outside);
    await writeFile(path.join(outside, 'file.txt'), 'SECRET OUTSIDE');
    await h.workspace.writeFiles([{ path: 'real/file.txt', content: 'inside' }]);
    // The attacker flips `sub` between a real directory and a symlink to the outside directory as fast as
    // it can, with renameat2(RENAME_EXCHANGE): at every instant `sub` is one or the other.
    const swapper = [
      'import ctypes, os',
      'libc = ctypes.CDLL(None, use_errno=True)',
      `os.symlink(${JSON.stringify(outside)}, "link")`,
      'os.rename("real", "sub")',
      'while True: libc.renameat2(-100, b"sub", -100, b"link", 2)',
    ].join('\n');
    await h.workspace.writeFiles([{ path: 'swap.py', content: swapper }]);
    const racer = await h.workspace.startProcess({ command: 'exec python3 swap.py', owner: 'chat-a' });
    await waitFor(async () => (await h.workspace.stat('real')) === null);

    const outcomes = { inside: 0, refused: 0, escaped: 0, written: 0 };
    for (let i = 0; i < 500; i++) {
      const read = await h.call('read_file', { path: 'sub/file.txt' });
      const text = JSON.stringify(read.result);
      if (text.includes('SECRET OUTSIDE')) outcomes.escaped++;
      else if (read.isError) outcomes.refused++;
      else if (text.includes('inside')) outcomes.inside++;
      const write = await h.call('write_file', { path: `sub/w${i}.txt`, content: 'attacker' });
      if (!write.isError) outcomes.written++;
    }
    await h.workspace.signalProcess('chat-a', racer.id, 'SIGKILL');

    const leaked = await readdir(outside);
    expect(outcomes.escaped).toBe(0);
    expect(leaked).toEqual(['file.txt']);
    expect(await readFile(path.join(outside, 'file.txt'), 'utf8')).toBe('SECRET OUTSIDE');
    // The race really ran: both states were met.
    expect(outcomes.inside).toBeGreaterThan(0);
    expect(outcomes.refused).toBeGreaterThan(0);
    expect(outcomes.written).toBeGreaterThan(0);
    // No temp file stayed behind anywhere in the workspace either.
    const listing = await h.call('execute', { command: 'find . -name "*.chatd-*" | wc -l' });
    expect(String(resultOf(listing).output).trim()).toBe('0');
  }, 120_000);

  it('stops a bounded fork bomb at the process limit while the worker keeps serving', async () => {
    const nap = uniqueSleep();
    const pending = h.call('execute', {
      // dash reports a failed fork at once (bash retries for seconds); counting /proc needs no fork.
      command:
        `sh -c 'i=0; while [ $i -lt 400 ]; do sleep ${nap} >/dev/null 2>&1 & i=$((i+1)); done' 2>&1 | sort -u | head -3; ` +
        'n=0; for p in /proc/[0-9]*; do n=$((n+1)); done; echo $n',
      timeout_ms: 30_000,
    });
    // Meanwhile another workspace (another uid) runs commands, and this one's files stay readable.
    const other = await createHarness();
    try {
      const ok = await other.call('execute', { command: 'for i in $(seq 20); do true & done; wait; echo fine' });
      expect(resultOf(ok).output).toContain('fine');
    } finally {
      await other.cleanup();
    }
    const out = await pending;
    const output = String(resultOf(out).output);
    expect(output).toMatch(/Cannot fork|Resource temporarily unavailable/);
    expect(Number(output.trim().split('\n').pop())).toBeLessThanOrEqual(64);
    expect(resultOf(out).note).toMatch(/process limit \(64 processes/);
    // What the bomb left behind went with its sandbox.
    await waitFor(() => !sleeping(nap), 5_000);
  }, 60_000);

  it('stops a memory bomb and an oversized file at their limits', async () => {
    const memory = await h.call('execute', { command: 'x=$(head -c 400000000 /dev/zero | tr "\\0" a); echo survived' });
    expect(String(resultOf(memory).output)).not.toContain('survived');
    expect(resultOf(memory).note).toMatch(/memory limit \(256 MiB/);

    const file = await h.call('execute', { command: 'head -c 20000000 /dev/zero > big.bin' });
    expect(resultOf(file).success).toBe(false);
    expect(resultOf(file).note).toMatch(/file size limit \(5 MiB/);
    expect((await stat(path.join(h.workspace.root, 'big.bin'))).size).toBeLessThanOrEqual(5 * 1024 * 1024);
  }, 60_000);

  it('stops the background processes of a workspace left idle', async () => {
    const idle = await createHarness({ idleReapMs: 600 });
    try {
      const nap = uniqueSleep();
      await idle.call('execute', { command: `sleep ${nap}`, run_in_background: true });
      await waitFor(() => sleeping(nap));
      await waitFor(() => !sleeping(nap), 5_000);
    } finally {
      await idle.cleanup();
    }
  });
});
