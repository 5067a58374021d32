/**
 * How a workspace command is launched: the non-interactive environment every command gets, the resource
 * limits, and the command lines that isolate it. Pure argument building lives here so it can be
 * unit-tested; the per-workspace network holder and spawning live in `workspace-sandbox.ts` and
 * `process-group.ts`. docs/workspaces.md describes the isolation these arguments give.
 *
 * On a root worker each workspace has a host uid of its own and one long-lived "holder" sandbox that owns
 * its network namespace (only a loopback, plus the egress bridge where the template allows egress).
 * Every command is a fresh bubblewrap sandbox that joins that network namespace (so a server started in
 * the background is reachable from the next command) and gets its own user, PID, IPC and UTS
 * namespaces, no capabilities, no new privileges, no further user namespaces, the system read-only, and
 * only its workspace and home writable. A worker that is not root runs each command in a network
 * namespace of its own, as its own uid. Where the worker manages cgroups (cgroups.ts), the launch first
 * joins the workspace's cgroup, which then limits memory, processes and CPU of the workspace as a whole.
 */
import { execFile } from 'node:child_process';
import { placementArgs } from './cgroups';
import { egressBind } from './egress/bridge';

/**
 * Variables that keep commands from waiting for a human: no editors, pagers, credential prompts or
 * colour codes. They override whatever the base environment says.
 */
export const NON_INTERACTIVE_ENV: Readonly<Record<string, string>> = Object.freeze({
  CHATD_AGENT: '1',
  CI: 'true',
  DEBIAN_FRONTEND: 'noninteractive',
  EDITOR: 'true',
  VISUAL: 'true',
  GIT_EDITOR: 'true',
  GIT_SEQUENCE_EDITOR: 'true',
  GIT_TERMINAL_PROMPT: '0',
  GIT_SSH_COMMAND: 'ssh -o BatchMode=yes',
  GIT_PAGER: 'cat',
  PAGER: 'cat',
  NO_COLOR: '1',
  TERM: 'dumb',
});

/** Used when the provider is given no PATH: the usual system directories. */
export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** The uid and gid a command has inside its sandbox (mapped to the workspace's host uid). */
export const SANDBOX_UID = 1000;

/**
 * The environment of a workspace command. It starts from `base` (which the provider gets injected, never
 * the worker's own environment, so database URLs and provider keys never reach the model's commands),
 * then sets HOME and the non-interactive variables.
 */
export function buildCommandEnv(base: Readonly<Record<string, string>>, home: string): Record<string, string> {
  return { PATH: DEFAULT_PATH, LANG: 'C.UTF-8', ...base, HOME: home, ...NON_INTERACTIVE_ENV };
}

/**
 * Resource limits of workspace commands (docs/workspaces.md "Limits"): per process as rlimits, and per
 * workspace where a cgroup backend is in use (cgroups.ts).
 */
export interface SandboxLimits {
  /**
   * Processes (threads count) at once: of the workspace's cgroup (pids.max) where cgroups are used, else of
   * the workspace's host uid (RLIMIT_NPROC).
   */
  processes: number;
  /** Address space of one process, MiB. */
  memoryMb: number;
  /** Largest file one process may write, MiB. */
  fileSizeMb: number;
  /** CPU time of one process, seconds. */
  cpuSeconds: number;
  /** Open files of one process. */
  openFiles: number;
  /** Size of the private /tmp of one command, MiB. */
  tmpMb: number;
  /** Memory of the whole workspace (cgroups only), MiB. */
  workspaceMemoryMb: number;
  /** CPU bandwidth of the whole workspace in cores (cgroups only). */
  cpus: number;
}

export const DEFAULT_LIMITS: Readonly<SandboxLimits> = Object.freeze({
  processes: 512,
  memoryMb: 4096,
  fileSizeMb: 1024,
  cpuSeconds: 3600,
  openFiles: 4096,
  tmpMb: 512,
  workspaceMemoryMb: 2048,
  cpus: 2,
});

/** Default host uid range of workspaces (root workers): far from system and login users. */
export const DEFAULT_UIDS: Readonly<{ base: number; count: number }> = Object.freeze({ base: 200_000, count: 100_000 });

/** The host programs the sandbox is built from. */
export interface SandboxTools {
  bwrap: string;
  nsenter: string;
  prlimit: string;
  setpriv: string;
  /** Needed only by workspaces whose template allows egress. */
  socat: string | null;
}

/** What to exec, and as which host user (the worker's own when absent). */
export interface LaunchSpec {
  file: string;
  args: string[];
  uid?: number;
  gid?: number;
}

/** Host directories made visible read-only: the OS itself, but not /home, /root, /run or other workspaces. */
const SYSTEM_READ_ONLY = ['/usr', '/bin', '/sbin', '/lib', '/lib32', '/lib64', '/etc', '/opt'];

/** The file system every sandbox sees: the system read-only, private /proc, /dev and /tmp. */
function systemMounts(readOnlyPaths: readonly string[], tmpMb: number): string[] {
  const args: string[] = [];
  for (const dir of [...SYSTEM_READ_ONLY, ...readOnlyPaths]) args.push('--ro-bind-try', dir, dir);
  args.push('--proc', '/proc', '--dev', '/dev');
  args.push('--size', String(tmpMb * 1024 * 1024), '--tmpfs', '/tmp');
  return args;
}

const IDENTITY = ['--uid', String(SANDBOX_UID), '--gid', String(SANDBOX_UID)];

export interface HolderPlan {
  readOnlyPaths: readonly string[];
  /** The host path of the workspace's egress proxy socket; absent: no egress. */
  egressSocket?: string;
  /** The holder's command: keeps the namespace alive (and bridges egress). */
  command: string[];
}

/**
 * The holder of a workspace's network namespace: a sandbox with new namespaces of every kind that only
 * keeps running. `--info-fd 3` reports its child's pid, whose namespaces commands then join.
 */
export function buildHolderArgs(plan: HolderPlan): string[] {
  const args = ['--die-with-parent', '--unshare-all', '--unshare-user', ...IDENTITY, '--cap-drop', 'ALL'];
  args.push(...systemMounts(plan.readOnlyPaths, 1));
  if (plan.egressSocket) args.push(...egressBind(plan.egressSocket));
  args.push('--info-fd', '3', '--', ...plan.command);
  return args;
}

/**
 * The launch of a holder (root workers): the drop to the workspace's uid with no supplementary groups,
 * then bubblewrap with `holderArgs`; when `procsFiles` are given, the launch joins the workspace's cgroup
 * first, while it is still root.
 */
export function buildHolderLaunch(
  tools: Pick<SandboxTools, 'bwrap' | 'setpriv'>,
  uid: number,
  holderArgs: readonly string[],
  procsFiles: readonly string[] = [],
): LaunchSpec {
  const argv = [tools.setpriv, `--reuid=${uid}`, `--regid=${uid}`, '--clear-groups', '--', tools.bwrap, ...holderArgs];
  return procsFiles.length > 0 ? wrap(placementArgs(procsFiles, argv)) : wrap(argv);
}

function wrap(argv: readonly string[]): LaunchSpec {
  return { file: argv[0]!, args: argv.slice(1) };
}

export interface CommandPlan {
  /** Absolute workspace root, bound read-write at the same path. */
  root: string;
  /** Per-workspace home directory, bound read-write at the same path. */
  home: string;
  /** Working directory inside the sandbox (inside the root). */
  cwd: string;
  shell: string;
  command: string;
  readOnlyPaths: readonly string[];
  limits: SandboxLimits;
  /**
   * Root workers: the holder whose network namespace the command joins, and the workspace's host uid the
   * command drops to before bubblewrap. Null: the command runs as the worker's own uid in a network
   * namespace of its own.
   */
  shared: { holderPid: number; uid: number } | null;
  tools: SandboxTools;
  /**
   * The `cgroup.procs` files of the workspace's cgroup (root workers with a cgroup backend): the launch
   * joins it before anything else, and the process limit is the cgroup's (no RLIMIT_NPROC).
   */
  cgroupProcs?: readonly string[];
}

/**
 * The arguments of `tools.prlimit` for one command: rlimits first (the process limit only outside a
 * cgroup); on root workers the holder's network namespace (nsenter) and the drop to the workspace's uid
 * with no supplementary groups (setpriv); then bubblewrap with its own namespaces. There is deliberately no `--new-session`:
 * the command must stay in the process group the provider created, so that signalling the group reaches
 * it; the PID namespace guarantees that nothing outlives the command's sandbox (when its init exits, the
 * kernel kills every process left in it).
 */
export function buildCommandArgs(plan: CommandPlan): string[] {
  const { limits, tools, shared } = plan;
  const mb = 1024 * 1024;
  const inCgroup = (plan.cgroupProcs?.length ?? 0) > 0;
  const prlimit = [
    ...(inCgroup ? [] : [`--nproc=${limits.processes}`]),
    `--as=${limits.memoryMb * mb}`,
    `--fsize=${limits.fileSizeMb * mb}`,
    `--cpu=${limits.cpuSeconds}`,
    `--nofile=${limits.openFiles}`,
    '--core=0',
  ];
  const enter = shared
    ? [
        tools.nsenter,
        `--net=/proc/${shared.holderPid}/ns/net`,
        '--',
        tools.setpriv,
        `--reuid=${shared.uid}`,
        `--regid=${shared.uid}`,
        '--clear-groups',
        '--',
      ]
    : [];
  const bwrap = ['--die-with-parent', '--unshare-user', ...IDENTITY, '--disable-userns'];
  bwrap.push('--unshare-pid', '--unshare-ipc', '--unshare-uts', '--unshare-cgroup-try', '--hostname', 'workspace');
  if (!shared) bwrap.push('--unshare-net');
  bwrap.push('--cap-drop', 'ALL');
  bwrap.push(...systemMounts(plan.readOnlyPaths, limits.tmpMb));
  bwrap.push('--bind', plan.root, plan.root, '--bind', plan.home, plan.home);
  bwrap.push('--chdir', plan.cwd, '--', plan.shell, '-c', plan.command);
  return [...prlimit, '--', ...enter, tools.bwrap, ...bwrap];
}

/** The launch of one command: `buildCommandArgs` under prlimit, inside the workspace's cgroup when given. */
export function buildCommandLaunch(plan: CommandPlan): LaunchSpec {
  const argv = [plan.tools.prlimit, ...buildCommandArgs(plan)];
  return plan.cgroupProcs?.length ? wrap(placementArgs(plan.cgroupProcs, argv)) : wrap(argv);
}

/** The launch when the operator turned the sandbox off: the shell, directly. */
export function unsandboxedLaunch(shell: string, command: string): LaunchSpec {
  return { file: shell, args: ['-c', command] };
}

/** Why the sandbox cannot run, written for the operator (it reaches the model as a tool error). */
export type SandboxDetection = { ok: true; tools: SandboxTools } | { ok: false; reason: string };

/**
 * Finds the sandbox's programs on `path` and tries them once: a holder-less bubblewrap run as `uid`
 * with every namespace the commands use (bubblewrap is useless where user namespaces are disabled).
 * Never throws.
 */
export async function detectSandbox(path: string, uid?: number): Promise<SandboxDetection> {
  const names = ['bwrap', 'nsenter', 'prlimit', 'setpriv'];
  const located = await run('/bin/sh', ['-c', names.map((n) => `command -v ${n} || echo`).join('; ')], path);
  const [bwrap, nsenter, prlimit, setpriv] = (located ?? '\n\n\n').split('\n').map((s) => s.trim());
  if (!bwrap || !nsenter || !prlimit || !setpriv) {
    const missing = [
      !bwrap && 'bwrap (bubblewrap)',
      !nsenter && 'nsenter',
      !prlimit && 'prlimit',
      !setpriv && 'setpriv',
    ].filter(Boolean);
    return {
      ok: false,
      reason:
        `The workspace sandbox needs ${missing.join(', ')}, which this workspace host does not have. ` +
        'An operator must install them (Debian: apt-get install bubblewrap util-linux) and restart the worker.',
    };
  }
  const probe = await run(
    bwrap,
    ['--die-with-parent', '--unshare-all', '--unshare-user', '--disable-userns', '--ro-bind', '/', '/', '--', 'true'],
    path,
    uid,
  );
  if (probe === null) {
    return {
      ok: false,
      reason:
        'The workspace sandbox (bubblewrap) cannot create namespaces on this workspace host: unprivileged user ' +
        'namespaces are disabled or blocked (a container needs a seccomp profile that allows them). ' +
        'An operator must enable them (sysctl kernel.unprivileged_userns_clone=1, user.max_user_namespaces > 0).',
    };
  }
  const socat = (await run('/bin/sh', ['-c', 'command -v socat'], path))?.trim() || null;
  return { ok: true, tools: { bwrap, nsenter, prlimit, setpriv, socat } };
}

function run(file: string, args: string[], path: string, uid?: number): Promise<string | null> {
  return new Promise((resolve) => {
    execFile(file, args, { env: { PATH: path }, timeout: 5_000, uid, gid: uid }, (err, stdout) =>
      resolve(err ? null : stdout),
    );
  });
}
