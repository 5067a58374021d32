/**
 * Per-workspace limits under attack (docs/workspaces.md "Limits"): memory, processes and CPU of a
 * workspace as a whole, enforced by its cgroup, against the real sandbox and the real cgroups of this
 * host. What the tests expect is decided independently of the code under test: a root worker on a host
 * whose cgroup v1 memory and pids hierarchies (or a delegated cgroup v2) are writable must get a cgroup
 * backend; anywhere else every test asserts the rlimit fallback instead, so nothing passes by skipping.
 * Membership and counters are read from /proc and cgroupfs directly, not through chatd.
 */
import { randomUUID } from 'node:crypto';
import { accessSync, constants, existsSync, readdirSync, readFileSync, statfsSync } from 'node:fs';
import { mkdir, rmdir } from 'node:fs/promises';
import * as path from 'node:path';
import { LocalWorkspaceProvider } from '../../../src/workspaces/local.provider';
import { createHarness, resultOf, uniqueSleep, waitFor, type Harness } from '../tools/support';

const isRoot = process.getuid?.() === 0;

function writable(file: string): boolean {
  try {
    accessSync(file, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/** Whether this host lets a root worker manage cgroups: writable v1 memory and pids, or a cgroup2 root. */
function hostOffersCgroups(): boolean {
  if (!isRoot) return false;
  const v1 = ['memory', 'pids'].every((c) => writable(`/sys/fs/cgroup/${c}/cgroup.procs`));
  let v2 = false;
  try {
    v2 =
      statfsSync('/sys/fs/cgroup').type === 0x63677270 &&
      ['memory', 'pids', 'cpu'].every((c) =>
        readFileSync('/sys/fs/cgroup/cgroup.controllers', 'utf8').split(/\s+/).includes(c),
      );
  } catch {
    v2 = false;
  }
  return v1 || v2;
}

const expectCgroups = hostOffersCgroups();

/** Where each cgroup hierarchy is mounted (v1: by controller; v2: under the key `unified`). */
function cgroupMounts(): Map<string, string> {
  const mounts = new Map<string, string>();
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const [before, after] = line.split(' - ');
    if (!before || !after) continue;
    const mountPoint = before.split(' ')[4]!;
    const [fsType, , superOptions] = after.split(' ');
    if (fsType === 'cgroup2') mounts.set('unified', mountPoint);
    if (fsType === 'cgroup') for (const option of superOptions!.split(',')) mounts.set(option, mountPoint);
  }
  return mounts;
}

/** The host directory of each controller's cgroup `pid` is in, read from /proc/<pid>/cgroup. */
function cgroupDirsOf(pid: number): Map<string, string> {
  const mounts = cgroupMounts();
  const dirs = new Map<string, string>();
  for (const line of readFileSync(`/proc/${pid}/cgroup`, 'utf8').trim().split('\n')) {
    const [id, controllers, cgroupPath] = line.split(':');
    if (id === '0' && controllers === '') {
      const mount = mounts.get('unified');
      // A unified hierarchy holds the controllers no v1 hierarchy has (all of them on a v2-only host).
      const available = mount ? readFileSync(path.join(mount, 'cgroup.controllers'), 'utf8').split(/\s+/) : [];
      for (const c of ['memory', 'pids', 'cpu']) if (available.includes(c)) dirs.set(c, path.join(mount!, cgroupPath!));
      continue;
    }
    for (const c of controllers!.split(',')) {
      const mount = mounts.get(c);
      if (mount) dirs.set(c, path.join(mount, cgroupPath!));
    }
  }
  return dirs;
}

/** The host pid of the process running `sleep <nap>`. */
function pidOfSleep(nap: string): number {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8') === `sleep\0${nap}\0`) return Number(entry);
    } catch {
      // exited while we looked
    }
  }
  throw new Error(`no sleep ${nap}`);
}

/** Starts `sleep` in the background of the harness's workspace and returns its host pid and uid. */
async function workspaceProcess(h: Harness): Promise<{ pid: number; uid: number; processId: string }> {
  const nap = uniqueSleep();
  const started = await h.workspace.startProcess({ command: `exec sleep ${nap}`, owner: 'chat-a' });
  let pid = 0;
  await waitFor(() => {
    try {
      pid = pidOfSleep(nap);
      return true;
    } catch {
      return false;
    }
  });
  const uid = Number(/^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);
  return { pid, uid, processId: started.id };
}

/** `key value` lines of a cgroupfs file as numbers. */
function keyed(file: string): Map<string, number> {
  const values = new Map<string, number>();
  for (const line of readFileSync(file, 'utf8').trim().split('\n')) {
    const [key, value] = line.split(/\s+/);
    values.set(key!, Number(value));
  }
  return values;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('per-workspace limits against a hostile model', () => {
  const harnesses: Harness[] = [];
  const harness = async (limits: Record<string, number>): Promise<Harness> => {
    const h = await createHarness({ limits });
    harnesses.push(h);
    return h;
  };
  afterEach(async () => {
    await Promise.all(harnesses.splice(0).map((h) => h.cleanup()));
  });

  it('puts the holder and every command in the workspace cgroup and reports what it enforces', async () => {
    const h = await harness({ processes: 64, workspaceMemoryMb: 160, cpus: 0.5 });
    const status = await h.provider.workspaceLimits();
    const out = await h.call('execute', { command: 'echo hi' });
    const { pid, uid } = await workspaceProcess(h);
    const dirs = cgroupDirsOf(pid);
    if (!expectCgroups) {
      expect(status).toEqual({ cgroup: null, reason: expect.stringMatching(/not root|cgroup/) });
      expect(resultOf(out).sandbox).toMatch(/^network none; rlimits: 64 processes, /);
      expect([...dirs.values()].some((d) => d.includes('chatd-workspaces'))).toBe(false);
      return;
    }
    expect(status.cgroup).toMatch(/^v[12]$/);
    expect(resultOf(out).sandbox).toMatch(
      new RegExp(
        `^network none; cgroup ${status.cgroup}: memory 160 MiB, 64 processes, 0.5 CPUs per workspace; rlimits: `,
      ),
    );
    for (const controller of ['memory', 'pids', 'cpu']) {
      expect(dirs.get(controller)).toMatch(new RegExp(`/chatd-workspaces/${h.workspace.id}$`));
    }
    // Every process of the workspace's uid on the host (the holder's too) is inside, none outside.
    const members = readFileSync(path.join(dirs.get('pids')!, 'cgroup.procs'), 'utf8')
      .trim()
      .split('\n');
    const ofUid = readdirSync('/proc').filter((p) => {
      try {
        const status = readFileSync(`/proc/${p}/status`, 'utf8');
        // A zombie (the echo's sandbox being reaped) has left its cgroup already.
        return /^\d+$/.test(p) && Number(/^Uid:\s+(\d+)/m.exec(status)![1]) === uid && !/^State:\s+Z/m.test(status);
      } catch {
        return false;
      }
    });
    expect(ofUid.length).toBeGreaterThanOrEqual(3); // holder (bwrap, its init, cat) and the sleep
    for (const p of ofUid) expect(members).toContain(p);
  });

  it('OOM-kills a memory bomb spread over processes under their rlimit, says so, and keeps serving', async () => {
    const h = await harness({ workspaceMemoryMb: 160, memoryMb: 512 });
    // Four processes of 100 MiB each: every one far under its 512 MiB address-space rlimit, 400 MiB together.
    const bomb = await h.call('execute', {
      command:
        "for i in 1 2 3 4; do python3 -c \"import time; b = b'x' * (100 << 20); time.sleep(2); print('held')\" & done; " +
        'wait; echo finished',
      timeout_ms: 30_000,
    });
    const result = resultOf(bomb);
    expect(String(result.output)).not.toMatch(/MemoryError|Cannot allocate/i); // no rlimit was hit
    const again = await h.call('execute', { command: 'echo alive' });
    expect(resultOf(again).output).toBe('alive\n');
    if (!expectCgroups) {
      expect((String(result.output).match(/^held$/gm) ?? []).length).toBe(4);
      expect(result.note ?? '').not.toMatch(/whole workspace/);
      return;
    }
    expect((String(result.output).match(/^held$/gm) ?? []).length).toBeLessThan(4);
    expect(result.note).toMatch(/memory limit \(160 MiB for the whole workspace/);
    const { pid } = await workspaceProcess(h);
    const memory = cgroupDirsOf(pid).get('memory')!;
    const kills = keyed(
      path.join(memory, existsSync(path.join(memory, 'memory.events')) ? 'memory.events' : 'memory.oom_control'),
    );
    expect(kills.get('oom_kill')).toBeGreaterThan(0);
    // A command that hit nothing says nothing.
    expect(resultOf(again).note).toBeUndefined();
  }, 60_000);

  it('stops a fork bomb at the workspace process limit, counting its background processes, and no other workspace', async () => {
    const h = await harness({ processes: 64 });
    const nap = uniqueSleep();
    // In the background, a bomb takes every process the workspace may have and holds them.
    const bomb = await h.workspace.startProcess({
      // dash gives up at the first refused fork; the outer shell then holds on without forking.
      command: `sh -c 'while :; do sleep ${nap} & done' 2>/dev/null; exec sleep ${nap}`,
      owner: 'chat-a',
    });
    let held = 0;
    let stablePolls = 0;
    await waitFor(() => {
      const count = readdirSync('/proc').filter((p) => {
        try {
          return readFileSync(`/proc/${p}/cmdline`, 'utf8') === `sleep\0${nap}\0`;
        } catch {
          return false;
        }
      }).length;
      stablePolls = count === held && count > 0 ? stablePolls + 1 : 0;
      held = count;
      return stablePolls >= 15; // unchanged for 300 ms: the bomb is done forking
    }, 15_000);
    expect(held).toBeLessThan(64);

    // Another workspace is unaffected.
    const other = await harness({ processes: 64 });
    const fine = await other.call('execute', { command: 'for i in $(seq 20); do sleep 0.2 & done; wait; echo fine' });
    expect(resultOf(fine).output).toContain('fine');

    const starved = await h.call('execute', { command: 'sleep 0.1 & wait; echo ran' });
    if (expectCgroups) {
      // The foreground command gets no process: its background siblings hold them all.
      expect(resultOf(starved).success).toBe(false);
      expect(resultOf(starved).output).not.toContain('ran');
      expect(resultOf(starved).note).toMatch(/process limit \(64 processes for the whole workspace/);
      const dirs = cgroupDirsOf(pidOfSleep(nap));
      expect(keyed(path.join(dirs.get('pids')!, 'pids.events')).get('max')).toBeGreaterThan(0);
      expect(Number(readFileSync(path.join(dirs.get('pids')!, 'pids.current'), 'utf8'))).toBeLessThanOrEqual(64);
    } else {
      // rlimits: the process limit is RLIMIT_NPROC of the workspace's uid, which the bomb exhausted too.
      expect(resultOf(starved).note ?? '').not.toMatch(/whole workspace/);
    }

    await h.workspace.signalProcess('chat-a', bomb.id, 'SIGKILL');
    await waitFor(async () => resultOf(await h.call('execute', { command: 'echo back' })).output === 'back\n', 10_000);
  }, 60_000);

  it('throttles a CPU hog to the workspace quota', async () => {
    const h = await harness({ cpus: 0.5 });
    const { pid } = await workspaceProcess(h);
    await h.workspace.startProcess({
      command: "sh -c 'while :; do :; done' & sh -c 'while :; do :; done' & wait",
      owner: 'chat-a',
    });
    const dirs = cgroupDirsOf(pid);
    if (!expectCgroups) {
      expect(resultOf(await h.call('execute', { command: 'true' })).sandbox).toMatch(/; rlimits: \d+ processes/);
      return;
    }
    const cpuacct = dirs.get('cpuacct');
    const usageNs = (): number =>
      cpuacct && existsSync(path.join(cpuacct, 'cpuacct.usage'))
        ? Number(readFileSync(path.join(cpuacct, 'cpuacct.usage'), 'utf8'))
        : keyed(path.join(dirs.get('cpu')!, 'cpu.stat')).get('usage_usec')! * 1000;
    await sleep(300); // the hogs are running
    const startNs = usageNs();
    const startedAt = process.hrtime.bigint();
    await sleep(1_500);
    const cores = (usageNs() - startNs) / Number(process.hrtime.bigint() - startedAt);
    // Two hogs on this host would use up to 2 cores unthrottled; the quota is half of one.
    expect(cores).toBeLessThan(0.8);
    expect(cores).toBeGreaterThan(0.2);
    expect(keyed(path.join(dirs.get('cpu')!, 'cpu.stat')).get('nr_throttled')).toBeGreaterThan(0);
  }, 30_000);

  it('removes the cgroup with the workspace, and a restarted worker sweeps only its own stale ones', async () => {
    const h = await harness({});
    const { pid } = await workspaceProcess(h);
    const dirs = [...new Set(cgroupDirsOf(pid).values())].filter((d) => d.includes('chatd-workspaces'));
    if (!expectCgroups) {
      expect(dirs).toEqual([]);
      return;
    }
    expect(dirs.length).toBeGreaterThanOrEqual(2);
    await h.provider.delete(h.workspace.id);
    for (const dir of dirs) expect(existsSync(dir)).toBe(false);

    // A workspace of this data directory whose cgroup a dead worker left, and one of another worker.
    const leftover = await h.provider.create({ templateId: 'empty' });
    const foreign = `foreign-${randomUUID()}`;
    const parents = dirs.map((d) => path.dirname(d));
    for (const parent of parents) {
      await mkdir(path.join(parent, leftover.id));
      await mkdir(path.join(parent, foreign));
    }
    const restarted = new LocalWorkspaceProvider({ baseDir: path.join(h.dir, 'workspaces') });
    try {
      await restarted.prepareHost();
      for (const parent of parents) {
        expect(existsSync(path.join(parent, leftover.id))).toBe(false);
        expect(existsSync(path.join(parent, foreign))).toBe(true);
      }
    } finally {
      await restarted.dispose();
      for (const parent of parents) await rmdir(path.join(parent, foreign)).catch(() => undefined);
    }
  });
});
