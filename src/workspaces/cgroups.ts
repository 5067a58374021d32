/**
 * Per-workspace cgroups: limits on a workspace as a whole (memory, processes, CPU), where the host lets the
 * worker manage cgroups; rlimits per process (sandbox.ts) stay in force either way. docs/workspaces.md
 * ("Limits") is the contract.
 *
 * Layout: every workspace gets a cgroup `chatd-workspaces/<workspace id>` beneath a parent the worker may
 * manage.
 * - cgroup v2: the parent is a delegated cgroup2 directory (`CHATD_WORKSPACE_CGROUP`, or with `auto` the
 *   worker's own cgroup under a unified hierarchy mounted at /sys/fs/cgroup). v2 lets only leaves hold
 *   processes once controllers are enabled for children, so the processes in that directory (the worker
 *   itself) first move to a leaf `chatd-worker` beside `chatd-workspaces`. The memory, pids and cpu
 *   controllers are then enabled in the directory and in `chatd-workspaces`.
 * - cgroup v1: the memory and pids hierarchies (and cpu and cpuacct when mounted) each get the same
 *   `chatd-workspaces/<id>` beneath the worker's own cgroup of that hierarchy, so a workspace never escapes
 *   limits the worker itself is under.
 *
 * A launched process joins its workspace's cgroup itself, before it execs the command (`placementArgs`):
 * everything the command forks is born inside. Only root workers place processes (the launch drops to the
 * workspace's uid afterwards); a worker that is not root keeps rlimits only.
 */
import { constants } from 'node:fs';
import { access, mkdir, readdir, readFile, rmdir, statfs, writeFile } from 'node:fs/promises';
import * as path from 'node:path';

/** The directory holding the workspaces' cgroups, beneath the parent the worker manages. */
export const CGROUP_GROUP = 'chatd-workspaces';
/** The v2 leaf the worker's own processes move to (see the module comment). */
export const WORKER_LEAF = 'chatd-worker';
/** cpu quota period: 100 ms, the kernel's default. */
export const CPU_PERIOD_US = 100_000;
/** Where `auto` looks for a unified (v2) hierarchy. */
const CGROUP_ROOT = '/sys/fs/cgroup';
/** statfs(2) f_type of cgroup2. */
const CGROUP2_SUPER_MAGIC = 0x63677270;
/** The shell the placement prefix runs in (before the workspace's own shell exists). */
const PLACEMENT_SHELL = '/bin/sh';
/** Exit status of a launch that could not join its cgroup: the command never ran. */
export const PLACEMENT_FAILED_EXIT = 125;

export type CgroupVersion = 'v1' | 'v2';
export type CgroupController = 'memory' | 'pids' | 'cpu' | 'cpuacct';

/** The v2 controllers the workspaces need. */
const V2_CONTROLLERS: readonly CgroupController[] = ['memory', 'pids', 'cpu'];
/** The v1 hierarchies: memory and pids are required, cpu (quota) and cpuacct (usage) used when present. */
const V1_REQUIRED: readonly CgroupController[] = ['memory', 'pids'];
const V1_OPTIONAL: readonly CgroupController[] = ['cpu', 'cpuacct'];

/** Limits of one workspace as a whole. */
export interface CgroupLimits {
  /** Memory of all its processes together (no swap), MiB. */
  memoryMb: number;
  /** Processes and threads alive at once. */
  processes: number;
  /** CPU bandwidth in cores (fractions allowed). */
  cpus: number;
}

/** Counters of limit hits since the cgroup was created. */
export interface CgroupEvents {
  /** Processes the kernel killed to keep the workspace under its memory limit. */
  oomKills: number;
  /** Forks refused at the process limit. */
  pidsMax: number;
}

/** What the workspace uses now; null where the backend has no such counter. */
export interface CgroupUsage {
  memoryBytes: number | null;
  processes: number | null;
  /** CPU time consumed since creation, microseconds. */
  cpuUsec: number | null;
  /** Quota periods in which the workspace was throttled. */
  throttledPeriods: number | null;
}

/** One hierarchy the workspaces' cgroups live in: `<parent>/<id>`, with these controllers. */
export interface CgroupHierarchy {
  parent: string;
  controllers: ReadonlySet<CgroupController>;
}

/** `CHATD_WORKSPACE_CGROUP`: `auto`, `off`, or the absolute path of a delegated cgroup2 directory. */
export function isCgroupSetting(value: string): boolean {
  if (value === 'auto' || value === 'off') return true;
  return value.startsWith('/') && !value.split('/').includes('..');
}

const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/;

/** The cgroup directory name of a workspace; throws for an id that could name another path. */
export function cgroupName(workspaceId: string): string {
  if (!ID_PATTERN.test(workspaceId)) throw new Error(`not a workspace id: ${JSON.stringify(workspaceId)}`);
  return workspaceId;
}

/** The cpu quota per period for `cpus` cores (at least the kernel's 1 ms minimum). */
export function cpuQuotaUs(cpus: number): number {
  return Math.max(1_000, Math.round(cpus * CPU_PERIOD_US));
}

/**
 * The files that set a workspace's limits, in the order they must be written. v1 `memsw` (memory plus
 * swap) must never be below the memory limit, so it is lifted first and set equal afterwards: no swap.
 */
export function limitWrites(
  version: CgroupVersion,
  controllers: ReadonlySet<CgroupController>,
  limits: CgroupLimits,
  options: { memsw?: boolean } = {},
): Array<[file: string, value: string]> {
  const bytes = String(limits.memoryMb * 1024 * 1024);
  const writes: Array<[string, string]> = [];
  if (version === 'v2') {
    if (controllers.has('memory')) writes.push(['memory.max', bytes], ['memory.swap.max', '0']);
    if (controllers.has('pids')) writes.push(['pids.max', String(limits.processes)]);
    if (controllers.has('cpu')) writes.push(['cpu.max', `${cpuQuotaUs(limits.cpus)} ${CPU_PERIOD_US}`]);
    return writes;
  }
  if (controllers.has('memory')) {
    if (options.memsw) writes.push(['memory.memsw.limit_in_bytes', '-1']);
    writes.push(['memory.limit_in_bytes', bytes]);
    if (options.memsw) writes.push(['memory.memsw.limit_in_bytes', bytes]);
  }
  if (controllers.has('pids')) writes.push(['pids.max', String(limits.processes)]);
  if (controllers.has('cpu')) {
    writes.push(['cpu.cfs_period_us', String(CPU_PERIOD_US)], ['cpu.cfs_quota_us', String(cpuQuotaUs(limits.cpus))]);
  }
  return writes;
}

/**
 * The argv that runs `argv` inside a cgroup: a shell writes its own pid into each `cgroup.procs` file and
 * only then execs `argv`, so the command and everything it forks start inside. Paths travel as arguments,
 * never through the script. When a write fails the command does not run (exit 125).
 */
export function placementArgs(procsFiles: readonly string[], argv: readonly string[]): string[] {
  const script =
    'while [ "$1" != -- ]; do echo $$ > "$1" || { echo "chatd: the workspace cgroup is unavailable" >&2; ' +
    `exit ${PLACEMENT_FAILED_EXIT}; }; shift; done; shift; exec "$@"`;
  return [PLACEMENT_SHELL, '-c', script, 'chatd-cgroup', ...procsFiles, '--', ...argv];
}

/** /proc/self/cgroup: the v2 path (`0::/path`) and the v1 path of each controller. */
export function parseProcCgroup(text: string): { unified: string | null; v1: Map<string, string> } {
  let unified: string | null = null;
  const v1 = new Map<string, string>();
  for (const line of text.split('\n')) {
    const match = /^(\d+):([^:]*):(.*)$/.exec(line.trim());
    if (!match) continue;
    const [, id, list, cgroupPath] = match;
    if (id === '0' && list === '') unified = cgroupPath!;
    else for (const controller of list!.split(',')) if (controller) v1.set(controller, cgroupPath!);
  }
  return { unified, v1 };
}

export interface Mount {
  /** The path inside the file system that is mounted (a cgroup a namespace or bind mount starts at). */
  root: string;
  mountPoint: string;
  fsType: string;
  /** Per-mount options (`rw`, `ro`, …). */
  options: string[];
  /** File system options: for v1 cgroups, the controllers of the hierarchy. */
  superOptions: string[];
}

/** /proc/self/mountinfo (proc(5)): root, mount point, options, type and super options of each mount. */
export function parseMountinfo(text: string): Mount[] {
  const unescape = (s: string): string =>
    s.replace(/\\([0-7]{3})/g, (_m, oct: string) => String.fromCharCode(parseInt(oct, 8)));
  const mounts: Mount[] = [];
  for (const line of text.split('\n')) {
    const fields = line.trim().split(' ');
    const dash = fields.indexOf('-');
    if (dash < 6 || fields.length < dash + 3) continue;
    mounts.push({
      root: unescape(fields[3]!),
      mountPoint: unescape(fields[4]!),
      options: fields[5]!.split(','),
      fsType: fields[dash + 1]!,
      superOptions: fields[dash + 3]!.split(','),
    });
  }
  return mounts;
}

/** `cgroupPath` relative to a mount of the hierarchy rooted at `mountRoot`; null when outside it. */
function beneath(cgroupPath: string, mountRoot: string): string | null {
  if (mountRoot === '/') return cgroupPath;
  if (cgroupPath === mountRoot) return '/';
  return cgroupPath.startsWith(`${mountRoot}/`) ? cgroupPath.slice(mountRoot.length) : null;
}

/**
 * The v1 hierarchies the workspaces' cgroups go in (`<mount><worker's cgroup>/chatd-workspaces`), or why
 * there are none. Controllers mounted together share one directory.
 */
export function v1Hierarchies(
  mounts: readonly Mount[],
  own: ReadonlyMap<string, string>,
): { hierarchies: CgroupHierarchy[]; missing: string[] } {
  const byParent = new Map<string, Set<CgroupController>>();
  const missing: string[] = [];
  for (const controller of [...V1_REQUIRED, ...V1_OPTIONAL]) {
    const mount = mounts.find((m) => m.fsType === 'cgroup' && m.superOptions.includes(controller));
    const ownPath = own.get(controller);
    const relative = mount && ownPath !== undefined ? beneath(ownPath, mount.root) : null;
    if (!mount || relative === null || mount.options.includes('ro')) {
      if (V1_REQUIRED.includes(controller)) {
        missing.push(
          `${controller} (${mount ? (relative === null ? 'outside the mount' : 'read-only') : 'not mounted'})`,
        );
      }
      continue;
    }
    const parent = path.join(mount.mountPoint, relative, CGROUP_GROUP);
    const set = byParent.get(parent) ?? new Set<CgroupController>();
    set.add(controller);
    byParent.set(parent, set);
  }
  if (missing.length > 0) return { hierarchies: [], missing };
  return { hierarchies: [...byParent].map(([parent, controllers]) => ({ parent, controllers })), missing };
}

/** `key value` lines (memory.events, pids.events, cpu.stat, memory.oom_control) as numbers. */
export function parseKeyed(text: string): Map<string, number> {
  const values = new Map<string, number>();
  for (const line of text.split('\n')) {
    const [key, value] = line.trim().split(/\s+/);
    if (key && value !== undefined && /^\d+$/.test(value)) values.set(key, Number(value));
  }
  return values;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function readText(file: string): Promise<string | null> {
  try {
    return await readFile(file, 'utf8');
  } catch {
    return null;
  }
}

async function readNumber(file: string): Promise<number | null> {
  const text = await readText(file);
  return text === null || !/^\d+\s*$/.test(text) ? null : Number(text);
}

async function exists(file: string): Promise<boolean> {
  try {
    await access(file, constants.F_OK);
    return true;
  } catch {
    return false;
  }
}

const errno = (err: unknown): string | undefined => (err as NodeJS.ErrnoException).code;

/** The cgroup of one workspace, in every hierarchy of its backend. */
export class WorkspaceCgroup {
  constructor(
    readonly version: CgroupVersion,
    private readonly dirs: ReadonlyArray<{ dir: string; controllers: ReadonlySet<CgroupController> }>,
  ) {}

  /** The workspace's directory in each hierarchy. */
  get paths(): string[] {
    return this.dirs.map((d) => d.dir);
  }

  /** The files a process writes its pid into to join the workspace (one per hierarchy). */
  get procsFiles(): string[] {
    return this.dirs.map((d) => path.join(d.dir, 'cgroup.procs'));
  }

  /** Whether every directory exists. */
  async exists(): Promise<boolean> {
    for (const { dir } of this.dirs) if (!(await exists(dir))) return false;
    return true;
  }

  /** Limit hits counted by the kernel (v2 memory.events / v1 memory.oom_control, pids.events). */
  async events(): Promise<CgroupEvents> {
    let oomKills = 0;
    let pidsMax = 0;
    for (const { dir, controllers } of this.dirs) {
      if (controllers.has('memory')) {
        const file = this.version === 'v2' ? 'memory.events' : 'memory.oom_control';
        oomKills += parseKeyed((await readText(path.join(dir, file))) ?? '').get('oom_kill') ?? 0;
      }
      if (controllers.has('pids')) {
        pidsMax += parseKeyed((await readText(path.join(dir, 'pids.events'))) ?? '').get('max') ?? 0;
      }
    }
    return { oomKills, pidsMax };
  }

  /** Current memory and processes, CPU time and throttling so far. */
  async usage(): Promise<CgroupUsage> {
    const usage: CgroupUsage = { memoryBytes: null, processes: null, cpuUsec: null, throttledPeriods: null };
    const v2 = this.version === 'v2';
    for (const { dir, controllers } of this.dirs) {
      const at = (file: string): string => path.join(dir, file);
      if (controllers.has('memory'))
        usage.memoryBytes = await readNumber(at(v2 ? 'memory.current' : 'memory.usage_in_bytes'));
      if (controllers.has('pids')) usage.processes = await readNumber(at('pids.current'));
      if (controllers.has('cpu')) {
        const stat = parseKeyed((await readText(at('cpu.stat'))) ?? '');
        usage.throttledPeriods = stat.get('nr_throttled') ?? null;
        if (v2) usage.cpuUsec = stat.get('usage_usec') ?? null;
      }
      if (controllers.has('cpuacct')) {
        const ns = await readNumber(at('cpuacct.usage'));
        if (ns !== null) usage.cpuUsec = Math.round(ns / 1000);
      }
    }
    return usage;
  }

  /**
   * Removes the cgroup once its processes are gone: it waits up to a second for members being killed to
   * exit, then kills whatever is still inside (the workspace is being stopped) and waits once more.
   * Resolves false when a directory is still busy.
   */
  async remove(): Promise<boolean> {
    if (await this.removeWithin(1_000)) return true;
    await this.killMembers();
    return this.removeWithin(2_000);
  }

  private async removeWithin(ms: number): Promise<boolean> {
    const deadline = Date.now() + ms;
    for (;;) {
      if (await this.tryRemove()) return true;
      if (Date.now() > deadline) return false;
      await sleep(25);
    }
  }

  private async tryRemove(): Promise<boolean> {
    let done = true;
    for (const { dir } of this.dirs) {
      try {
        await rmdir(dir);
      } catch (err) {
        if (errno(err) !== 'ENOENT') done = false;
      }
    }
    return done;
  }

  private async killMembers(): Promise<void> {
    for (const { dir } of this.dirs) {
      if (this.version === 'v2' && (await exists(path.join(dir, 'cgroup.kill')))) {
        await writeFile(path.join(dir, 'cgroup.kill'), '1').catch(() => undefined);
        continue;
      }
      for (const pid of ((await readText(path.join(dir, 'cgroup.procs'))) ?? '').split('\n')) {
        if (!/^\d+$/.test(pid)) continue;
        try {
          process.kill(Number(pid), 'SIGKILL');
        } catch {
          // gone meanwhile
        }
      }
    }
  }
}

/** Where and how the workspaces' cgroups are made. */
export class CgroupBackend {
  constructor(
    readonly version: CgroupVersion,
    readonly hierarchies: readonly CgroupHierarchy[],
  ) {}

  /** The cgroup of `workspaceId`, whether or not it exists. */
  cgroupOf(workspaceId: string): WorkspaceCgroup {
    const name = cgroupName(workspaceId);
    return new WorkspaceCgroup(
      this.version,
      this.hierarchies.map((h) => ({ dir: path.join(h.parent, name), controllers: h.controllers })),
    );
  }

  /** Creates the workspace's cgroup if needed and (re)writes its limits. Idempotent. */
  async ensure(workspaceId: string, limits: CgroupLimits): Promise<WorkspaceCgroup> {
    const cgroup = this.cgroupOf(workspaceId);
    for (const [i, hierarchy] of this.hierarchies.entries()) {
      const dir = cgroup.paths[i]!;
      // The parent may vanish between the two steps (another worker's sweep removes an empty one): retry.
      for (let attempt = 0; ; attempt++) {
        try {
          if ((await mkdir(hierarchy.parent, { recursive: true })) !== undefined && this.version === 'v2') {
            await writeFile(path.join(hierarchy.parent, 'cgroup.subtree_control'), enableLine(V2_CONTROLLERS));
          }
          await mkdir(dir).catch((err: unknown) => {
            if (errno(err) !== 'EEXIST') throw err;
          });
          break;
        } catch (err) {
          if (errno(err) !== 'ENOENT' || attempt >= 3) throw err;
        }
      }
      const memsw =
        hierarchy.controllers.has('memory') && (await exists(path.join(dir, 'memory.memsw.limit_in_bytes')));
      for (const [file, value] of limitWrites(this.version, hierarchy.controllers, limits, { memsw })) {
        await writeFile(path.join(dir, file), value);
      }
    }
    return cgroup;
  }

  /** Removes the `chatd-workspaces` directories that are empty (worker shutdown); others stay. */
  async prune(): Promise<void> {
    for (const { parent } of this.hierarchies) await rmdir(parent).catch(() => undefined);
  }

  /**
   * Removes the cgroups of workspaces `isStale` names that no process is in: what a previous worker left
   * behind. Ones with processes stay (and are counted); names `isStale` rejects (other workers') are never
   * touched.
   */
  async sweep(isStale: (workspaceId: string) => boolean): Promise<{ removed: number; busy: number }> {
    let removed = 0;
    let busy = 0;
    for (const { parent } of this.hierarchies) {
      const entries = await readdir(parent, { withFileTypes: true }).catch(() => []);
      for (const entry of entries) {
        if (!entry.isDirectory() || !ID_PATTERN.test(entry.name) || !isStale(entry.name)) continue;
        try {
          await rmdir(path.join(parent, entry.name));
          removed++;
        } catch (err) {
          if (errno(err) !== 'ENOENT') busy++;
        }
      }
    }
    return { removed, busy };
  }
}

const enableLine = (controllers: readonly CgroupController[]): string => controllers.map((c) => `+${c}`).join(' ');

/** Which backend workspaces get, and why (logged once at worker start). */
export type CgroupDetection = { backend: CgroupBackend; reason: string } | { backend: null; reason: string };

/** Where detection reads the process's cgroups and mounts (tests point it elsewhere). */
export interface CgroupSources {
  procSelfCgroup?: string;
  mountinfo?: string;
}

/**
 * Picks the backend for `setting`: `off` → none; an absolute path → cgroup v2 there; `auto` → the worker's
 * own cgroup v2 under /sys/fs/cgroup when delegated, else cgroup v1, else none. Only a root worker gets
 * one. Never throws; an unusable choice comes back as `backend: null` with the reason.
 */
export async function detectCgroups(
  setting: string,
  isRoot: boolean,
  sources: CgroupSources = {},
): Promise<CgroupDetection> {
  if (setting === 'off') return { backend: null, reason: 'CHATD_WORKSPACE_CGROUP=off' };
  if (!isRoot) {
    return { backend: null, reason: 'the worker is not root, and only root can place workspace processes in cgroups' };
  }
  if (setting !== 'auto') {
    const problem = await prepareV2(setting);
    return problem
      ? { backend: null, reason: `CHATD_WORKSPACE_CGROUP=${setting} is unusable: ${problem}` }
      : { backend: v2Backend(setting), reason: `cgroup v2 delegated at ${setting} (CHATD_WORKSPACE_CGROUP)` };
  }
  const own = parseProcCgroup((await readText(sources.procSelfCgroup ?? '/proc/self/cgroup')) ?? '');
  const mounts = parseMountinfo((await readText(sources.mountinfo ?? '/proc/self/mountinfo')) ?? '');
  const v2Base = unifiedBase(mounts, own.unified);
  const v2Problem = v2Base.base ? await prepareV2(v2Base.base) : v2Base.problem;
  if (!v2Problem)
    return { backend: v2Backend(v2Base.base!), reason: `cgroup v2: the worker's own cgroup ${v2Base.base}` };
  const v1 = v1Hierarchies(mounts, own.v1);
  if (v1.missing.length > 0) {
    return { backend: null, reason: `no cgroup v2 (${v2Problem}) and no cgroup v1 (${v1.missing.join(', ')})` };
  }
  try {
    for (const { parent } of v1.hierarchies) await mkdir(parent, { recursive: true });
  } catch (err) {
    return { backend: null, reason: `no cgroup v2 (${v2Problem}); cgroup v1 not writable: ${(err as Error).message}` };
  }
  const names = v1.hierarchies.flatMap((h) => [...h.controllers]).join(', ');
  return {
    backend: new CgroupBackend('v1', v1.hierarchies),
    reason: `cgroup v1 (${names}); no cgroup v2: ${v2Problem}`,
  };
}

function v2Backend(base: string): CgroupBackend {
  return new CgroupBackend('v2', [{ parent: path.join(base, CGROUP_GROUP), controllers: new Set(V2_CONTROLLERS) }]);
}

/** The worker's own v2 cgroup directory under /sys/fs/cgroup (its parent when it already moved to the leaf). */
export function unifiedBase(mounts: readonly Mount[], unified: string | null): { base?: string; problem: string } {
  const mount = mounts.find((m) => m.fsType === 'cgroup2' && m.mountPoint === CGROUP_ROOT);
  if (!mount) return { problem: `${CGROUP_ROOT} is not a unified (cgroup2) hierarchy` };
  const relative = unified === null ? null : beneath(unified, mount.root);
  if (relative === null) return { problem: "the worker's cgroup is outside the mounted hierarchy" };
  const own = path.resolve(path.join(CGROUP_ROOT, relative)); // no trailing slash
  return { base: path.basename(own) === WORKER_LEAF ? path.dirname(own) : own, problem: '' };
}

/**
 * Makes `base` a usable v2 parent: a writable cgroup2 directory offering memory, pids and cpu; its own
 * processes (unless it is the hierarchy's root, where the kernel allows them) move to the `chatd-worker`
 * leaf; the controllers are enabled for `chatd-workspaces` and its children. Returns why not, or null.
 */
export async function prepareV2(base: string): Promise<string | null> {
  const info = await statfs(base).catch(() => null);
  if (!info || info.type !== CGROUP2_SUPER_MAGIC) return `${base} is not a cgroup2 directory`;
  try {
    await access(path.join(base, 'cgroup.subtree_control'), constants.W_OK);
  } catch {
    return `${base} is not writable (not delegated to the worker)`;
  }
  const available = new Set(((await readText(path.join(base, 'cgroup.controllers'))) ?? '').trim().split(/\s+/));
  const missing = V2_CONTROLLERS.filter((c) => !available.has(c));
  if (missing.length > 0) return `${base} does not offer the ${missing.join(', ')} controller (cgroup.controllers)`;
  try {
    // Only a non-root cgroup has cgroup.type; the root may keep its processes.
    if (await exists(path.join(base, 'cgroup.type'))) await vacate(base);
    await writeFile(path.join(base, 'cgroup.subtree_control'), enableLine(V2_CONTROLLERS));
    const parent = path.join(base, CGROUP_GROUP);
    await mkdir(parent, { recursive: true });
    await writeFile(path.join(parent, 'cgroup.subtree_control'), enableLine(V2_CONTROLLERS));
  } catch (err) {
    return `could not set up ${base}: ${(err as Error).message}`;
  }
  return null;
}

/** Moves every process of `base` into its `chatd-worker` leaf (forks in flight may need another round). */
async function vacate(base: string): Promise<void> {
  const leaf = path.join(base, WORKER_LEAF);
  await mkdir(leaf, { recursive: true });
  for (let round = 0; round < 5; round++) {
    const pids = ((await readText(path.join(base, 'cgroup.procs'))) ?? '').split('\n').filter((p) => /^\d+$/.test(p));
    if (pids.length === 0) return;
    for (const pid of pids) {
      await writeFile(path.join(leaf, 'cgroup.procs'), pid).catch((err: unknown) => {
        if (errno(err) !== 'ESRCH') throw err;
      });
    }
  }
  throw new Error(`processes keep appearing in ${base}`);
}
