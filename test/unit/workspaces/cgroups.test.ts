/**
 * Per-workspace cgroups (src/workspaces/cgroups.ts), the pure parts: reading /proc/self/cgroup and
 * mountinfo, where the workspaces' cgroups go under v1 and v2, the limit files and their order, the
 * placement prefix (run through the real /bin/sh on plain files), the launches that use it, the limit-hit
 * arithmetic and the configuration. The real cgroups are exercised by
 * test/activities/workspaces/cgroup-limits.activity.test.ts; v2 setup is not run against a real v2
 * controller here (see docs/workspaces.md "Known limits").
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { parseConfig } from '../../../src/config';
import {
  cgroupName,
  cpuQuotaUs,
  detectCgroups,
  isCgroupSetting,
  limitWrites,
  parseKeyed,
  parseMountinfo,
  parseProcCgroup,
  placementArgs,
  prepareV2,
  unifiedBase,
  v1Hierarchies,
  type CgroupController,
} from '../../../src/workspaces/cgroups';
import {
  buildCommandLaunch,
  buildHolderLaunch,
  DEFAULT_LIMITS,
  type CommandPlan,
} from '../../../src/workspaces/sandbox';
import { limitHits } from '../../../src/workspaces/workspace-sandbox';

const run = promisify(execFile);

/** A host like the one the activity tests run on: v1 hierarchies, the worker in a nested memory cgroup. */
const MOUNTINFO = [
  '31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755',
  '32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu',
  '33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct',
  '35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory',
  '39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids',
  '41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw',
].join('\n');
const PROC_CGROUP = ['8:pids:/', '4:memory:/jobs/abc', '2:cpuacct:/', '1:cpu:/', '0::/'].join('\n');

const controllers = (...names: CgroupController[]): Set<CgroupController> => new Set(names);

describe('reading the process cgroups and mounts', () => {
  it('parses /proc/self/cgroup into the v2 path and the v1 path of each controller', () => {
    const own = parseProcCgroup('9:name=systemd:/\n3:cpu,cpuacct:/svc\n4:memory:/jobs/abc\n0::/user.slice\n');
    expect(own.unified).toBe('/user.slice');
    expect(Object.fromEntries(own.v1)).toEqual({
      'name=systemd': '/',
      cpu: '/svc',
      cpuacct: '/svc',
      memory: '/jobs/abc',
    });
    expect(parseProcCgroup('4:memory:/x\n').unified).toBeNull();
  });

  it('parses mountinfo, optional fields and octal escapes included', () => {
    const [mount] = parseMountinfo(
      '40 31 0:37 /a\\040b /mnt/c\\040d rw,nosuid shared:9 master:2 - cgroup cgroup rw,pids\n',
    );
    expect(mount).toEqual({
      root: '/a b',
      mountPoint: '/mnt/c d',
      options: ['rw', 'nosuid'],
      fsType: 'cgroup',
      superOptions: ['rw', 'pids'],
    });
  });

  it('parses keyed cgroup files, ignoring what is not a number', () => {
    expect(Object.fromEntries(parseKeyed('oom_kill_disable 0\nunder_oom 0\noom_kill 3\n'))).toEqual({
      oom_kill_disable: 0,
      under_oom: 0,
      oom_kill: 3,
    });
    expect(parseKeyed('max 2\nfoo bar\n').get('foo')).toBeUndefined();
  });
});

describe('where the workspaces go under cgroup v1', () => {
  it("uses chatd-workspaces beneath the worker's own cgroup in each hierarchy", () => {
    const { hierarchies, missing } = v1Hierarchies(parseMountinfo(MOUNTINFO), parseProcCgroup(PROC_CGROUP).v1);
    expect(missing).toEqual([]);
    expect(hierarchies).toEqual([
      { parent: '/sys/fs/cgroup/memory/jobs/abc/chatd-workspaces', controllers: controllers('memory') },
      { parent: '/sys/fs/cgroup/pids/chatd-workspaces', controllers: controllers('pids') },
      { parent: '/sys/fs/cgroup/cpu/chatd-workspaces', controllers: controllers('cpu') },
      { parent: '/sys/fs/cgroup/cpuacct/chatd-workspaces', controllers: controllers('cpuacct') },
    ]);
  });

  it('shares one directory between co-mounted controllers and works without cpu', () => {
    const mounts = parseMountinfo(
      [
        '1 0 0:1 / /cg/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct',
        '2 0 0:2 / /cg/memory rw - cgroup cgroup rw,memory',
        '3 0 0:3 / /cg/pids rw - cgroup cgroup rw,pids',
      ].join('\n'),
    );
    const own = parseProcCgroup('5:cpu,cpuacct:/svc\n4:memory:/svc\n3:pids:/svc\n').v1;
    expect(v1Hierarchies(mounts, own).hierarchies).toEqual([
      { parent: '/cg/memory/svc/chatd-workspaces', controllers: controllers('memory') },
      { parent: '/cg/pids/svc/chatd-workspaces', controllers: controllers('pids') },
      { parent: '/cg/cpu,cpuacct/svc/chatd-workspaces', controllers: controllers('cpu', 'cpuacct') },
    ]);
    expect(v1Hierarchies(mounts.slice(1), own).hierarchies.map((h) => [...h.controllers])).toEqual([
      ['memory'],
      ['pids'],
    ]);
  });

  it("maps the worker's cgroup into a mount of a sub-tree (a container's bind mount)", () => {
    const mounts = parseMountinfo(
      [
        '1 0 0:1 /docker/c1 /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory',
        '2 0 0:2 /docker/c1 /sys/fs/cgroup/pids rw - cgroup cgroup rw,pids',
      ].join('\n'),
    );
    const own = parseProcCgroup('4:memory:/docker/c1\n3:pids:/docker/c1/app\n').v1;
    expect(v1Hierarchies(mounts, own).hierarchies.map((h) => h.parent)).toEqual([
      '/sys/fs/cgroup/memory/chatd-workspaces',
      '/sys/fs/cgroup/pids/app/chatd-workspaces',
    ]);
  });

  it('names what is missing: an unmounted, read-only or unreachable required hierarchy', () => {
    const own = parseProcCgroup('4:memory:/\n3:pids:/elsewhere\n').v1;
    expect(v1Hierarchies(parseMountinfo('2 0 0:2 / /cg/memory ro - cgroup cgroup rw,memory'), own).missing).toEqual([
      'memory (read-only)',
      'pids (not mounted)',
    ]);
    const outside = parseMountinfo(
      ['1 0 0:1 / /cg/memory rw - cgroup cgroup rw,memory', '2 0 0:2 /mine /cg/pids rw - cgroup cgroup rw,pids'].join(
        '\n',
      ),
    );
    expect(v1Hierarchies(outside, own).missing).toEqual(['pids (outside the mount)']);
  });
});

describe('where the workspaces go under cgroup v2', () => {
  const unified = parseMountinfo('30 1 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate');

  it("uses the worker's own cgroup, or its parent once the worker moved to the chatd-worker leaf", () => {
    expect(unifiedBase(unified, '/system.slice/chatd.service').base).toBe('/sys/fs/cgroup/system.slice/chatd.service');
    expect(unifiedBase(unified, '/system.slice/chatd.service/chatd-worker').base).toBe(
      '/sys/fs/cgroup/system.slice/chatd.service',
    );
    // In a container with its own cgroup namespace the worker's cgroup is the root of what it sees.
    expect(unifiedBase(unified, '/').base).toBe('/sys/fs/cgroup');
  });

  it('needs a unified hierarchy at /sys/fs/cgroup', () => {
    expect(unifiedBase(parseMountinfo(MOUNTINFO), '/')).toEqual({
      problem: '/sys/fs/cgroup is not a unified (cgroup2) hierarchy',
    });
  });

  it('refuses a directory that is not cgroup2, an explicit setting included', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'chatd-cgroup-'));
    try {
      expect(await prepareV2(dir)).toBe(`${dir} is not a cgroup2 directory`);
      expect(await detectCgroups(dir, true)).toEqual({
        backend: null,
        reason: `CHATD_WORKSPACE_CGROUP=${dir} is unusable: ${dir} is not a cgroup2 directory`,
      });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('is off when configured so, and for a worker that is not root', async () => {
    expect(await detectCgroups('off', true)).toEqual({ backend: null, reason: 'CHATD_WORKSPACE_CGROUP=off' });
    expect((await detectCgroups('auto', false)).reason).toMatch(/not root/);
  });
});

describe('limit files', () => {
  const limits = { memoryMb: 2048, processes: 512, cpus: 0.5 };

  it('v2: memory without swap, pids and a cpu quota per 100 ms period', () => {
    expect(limitWrites('v2', controllers('memory', 'pids', 'cpu'), limits)).toEqual([
      ['memory.max', String(2048 * 1024 * 1024)],
      ['memory.swap.max', '0'],
      ['pids.max', '512'],
      ['cpu.max', '50000 100000'],
    ]);
  });

  it('v1: memsw lifted before the memory limit and set equal after it (no swap), each hierarchy its own files', () => {
    const bytes = String(2048 * 1024 * 1024);
    expect(limitWrites('v1', controllers('memory'), limits, { memsw: true })).toEqual([
      ['memory.memsw.limit_in_bytes', '-1'],
      ['memory.limit_in_bytes', bytes],
      ['memory.memsw.limit_in_bytes', bytes],
    ]);
    expect(limitWrites('v1', controllers('memory'), limits)).toEqual([['memory.limit_in_bytes', bytes]]);
    expect(limitWrites('v1', controllers('pids'), limits)).toEqual([['pids.max', '512']]);
    expect(limitWrites('v1', controllers('cpu', 'cpuacct'), limits)).toEqual([
      ['cpu.cfs_period_us', '100000'],
      ['cpu.cfs_quota_us', '50000'],
    ]);
  });

  it('turns cores into a quota with the kernel minimum of 1 ms', () => {
    expect(cpuQuotaUs(2)).toBe(200_000);
    expect(cpuQuotaUs(1.25)).toBe(125_000);
    expect(cpuQuotaUs(0.001)).toBe(1_000);
  });

  it('names cgroups only after workspace ids', () => {
    expect(cgroupName('5cb3df89-2a36-4320-aafb-096aba298514')).toBe('5cb3df89-2a36-4320-aafb-096aba298514');
    for (const bad of ['', '..', '../x', 'a/b', '.hidden']) expect(() => cgroupName(bad)).toThrow();
  });
});

describe('placementArgs (through the real /bin/sh)', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'chatd-place-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('writes its own pid into every file and then execs the command as that same process, arguments intact', async () => {
    const files = [path.join(dir, 'a procs'), path.join(dir, 'b')];
    const argv = ['/bin/sh', '-c', 'echo "$$|$1|$2"', 'x', 'two words', '--'];
    const [file, ...args] = placementArgs(files, argv);
    const { stdout } = await run(file!, args);
    const [pid, first, second] = stdout.trim().split('|');
    expect([first, second]).toEqual(['two words', '--']);
    for (const procs of files) expect((await readFile(procs, 'utf8')).trim()).toBe(pid);
  });

  it('runs nothing when a file cannot be written', async () => {
    const marker = path.join(dir, 'ran');
    const [file, ...args] = placementArgs([path.join(dir, 'missing', 'cgroup.procs')], ['/usr/bin/touch', marker]);
    const failure = await run(file!, args).catch((err: { code: number; stderr: string }) => err);
    expect(failure).toMatchObject({
      code: 125,
      stderr: expect.stringContaining('the workspace cgroup is unavailable'),
    });
    await expect(readFile(marker)).rejects.toThrow();
  });
});

describe('launches in a cgroup', () => {
  const tools = { bwrap: '/b/bwrap', nsenter: '/b/nsenter', prlimit: '/b/prlimit', setpriv: '/b/setpriv', socat: null };
  const plan: CommandPlan = {
    root: '/w/abc',
    home: '/w/.chatd/home/abc',
    cwd: '/w/abc',
    shell: '/bin/bash',
    command: 'make',
    readOnlyPaths: [],
    limits: { ...DEFAULT_LIMITS, processes: 64 },
    shared: { holderPid: 42, uid: 200_001 },
    tools,
  };

  it('joins the cgroup first, then prlimit without a process rlimit (pids.max is the limit)', () => {
    const launch = buildCommandLaunch({ ...plan, cgroupProcs: ['/cg/m/ws/cgroup.procs', '/cg/p/ws/cgroup.procs'] });
    expect(launch.file).toBe('/bin/sh');
    const after = launch.args.slice(launch.args.indexOf('--') + 1);
    expect(launch.args.slice(3, launch.args.indexOf('--'))).toEqual(['/cg/m/ws/cgroup.procs', '/cg/p/ws/cgroup.procs']);
    expect(after[0]).toBe('/b/prlimit');
    expect(after.some((a) => a.startsWith('--nproc'))).toBe(false);
    expect(after).toContain('/b/setpriv');
  });

  it('without a cgroup is prlimit with the process rlimit, as before', () => {
    const launch = buildCommandLaunch(plan);
    expect(launch.file).toBe('/b/prlimit');
    expect(launch.args[0]).toBe('--nproc=64');
  });

  it('starts the holder as root only to join the cgroup, then drops to the workspace uid', () => {
    const plain = buildHolderLaunch(tools, 200_001, ['--unshare-all', '--', 'cat']);
    expect(plain).toEqual({
      file: '/b/setpriv',
      args: ['--reuid=200001', '--regid=200001', '--clear-groups', '--', '/b/bwrap', '--unshare-all', '--', 'cat'],
    });
    const placed = buildHolderLaunch(tools, 200_001, ['--', 'cat'], ['/cg/ws/cgroup.procs']);
    expect(placed.file).toBe('/bin/sh');
    expect(placed.args.slice(-10)).toEqual([
      '/cg/ws/cgroup.procs',
      '--',
      '/b/setpriv',
      '--reuid=200001',
      '--regid=200001',
      '--clear-groups',
      '--',
      '/b/bwrap',
      '--',
      'cat',
    ]);
  });
});

describe('limitHits', () => {
  it('names the limits whose counters grew, and counts everything after the cgroup was made anew', () => {
    expect(limitHits({ oomKills: 1, pidsMax: 5 }, { oomKills: 2, pidsMax: 5 })).toEqual(['memory']);
    expect(limitHits({ oomKills: 0, pidsMax: 0 }, { oomKills: 0, pidsMax: 9 })).toEqual(['processes']);
    expect(limitHits({ oomKills: 4, pidsMax: 7 }, { oomKills: 1, pidsMax: 0 })).toEqual(['memory']);
    expect(limitHits(null, { oomKills: 1, pidsMax: 1 })).toEqual([]);
  });
});

describe('configuration', () => {
  it('reads the workspace memory, CPUs (fractions allowed) and the cgroup setting, with defaults', () => {
    const defaults = parseConfig({});
    expect(defaults.sandbox.cgroup).toBe('auto');
    expect(defaults.sandbox.limits).toMatchObject({ workspaceMemoryMb: 2048, cpus: 2 });
    const set = parseConfig({
      CHATD_WORKSPACE_MEMORY_MB: '512',
      CHATD_WORKSPACE_CPUS: '0.5',
      CHATD_WORKSPACE_CGROUP: '/sys/fs/cgroup/chatd.slice',
    });
    expect(set.sandbox).toMatchObject({
      cgroup: '/sys/fs/cgroup/chatd.slice',
      limits: { workspaceMemoryMb: 512, cpus: 0.5 },
    });
  });

  it('refuses a relative or escaping cgroup path and CPUs of zero', () => {
    for (const value of ['relative/path', '/sys/fs/cgroup/../etc', 'v2']) {
      expect(isCgroupSetting(value)).toBe(false);
      expect(() => parseConfig({ CHATD_WORKSPACE_CGROUP: value })).toThrow(/CHATD_WORKSPACE_CGROUP/);
    }
    expect(() => parseConfig({ CHATD_WORKSPACE_CPUS: '0' })).toThrow(/CHATD_WORKSPACE_CPUS/);
  });
});
