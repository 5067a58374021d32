/**
 * How a workspace command is launched: the non-interactive environment every command gets, and the
 * bubblewrap (`bwrap`) command line that isolates it when bwrap is available. Pure argument building lives
 * here so it can be unit-tested on hosts without bwrap; spawning lives in `process-table.ts`.
 */
import { execFile } from 'node:child_process';

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

/**
 * The environment of a workspace command. It starts from `base` (which the provider gets injected, never
 * the worker's own environment, so database URLs and provider keys never reach the model's commands),
 * then sets HOME and the non-interactive variables.
 */
export function buildCommandEnv(base: Readonly<Record<string, string>>, home: string): Record<string, string> {
  return { PATH: DEFAULT_PATH, LANG: 'C.UTF-8', ...base, HOME: home, ...NON_INTERACTIVE_ENV };
}

export interface BwrapPlan {
  /** Absolute workspace root, bound read-write at the same path inside the sandbox. */
  root: string;
  /** Per-workspace home directory, bound read-write at the same path. */
  home: string;
  /** Working directory inside the sandbox (inside the root). */
  cwd: string;
  shell: string;
  command: string;
  /** Share the host network (package installs, git fetch). Default true. */
  network?: boolean;
  /** Extra host paths made visible read-only (toolchains outside /usr, for example). */
  readOnlyPaths?: string[];
}

/** Host directories made visible read-only: the OS itself, but not /home, /root or other workspaces. */
const SYSTEM_READ_ONLY = ['/usr', '/bin', '/sbin', '/lib', '/lib32', '/lib64', '/etc', '/opt'];

/**
 * The `bwrap` argument vector for one command. The sandbox sees the system read-only, its own root and
 * home read-write, a private /tmp, /proc and /dev, and new namespaces for everything but (optionally) the
 * network. `--die-with-parent` ties it to the worker. There is deliberately no `--new-session`: the
 * command must stay in the process group the provider created, so that signalling the group reaches it
 * (and it has no controlling terminal anyway, as the group is a fresh session without a tty).
 */
export function buildBwrapArgs(plan: BwrapPlan): string[] {
  const args: string[] = ['--die-with-parent', '--unshare-all'];
  if (plan.network ?? true) args.push('--share-net');
  for (const dir of SYSTEM_READ_ONLY) args.push('--ro-bind-try', dir, dir);
  for (const dir of plan.readOnlyPaths ?? []) args.push('--ro-bind-try', dir, dir);
  args.push('--proc', '/proc', '--dev', '/dev', '--tmpfs', '/tmp');
  args.push('--bind', plan.home, plan.home, '--bind', plan.root, plan.root);
  args.push('--chdir', plan.cwd, '--', plan.shell, '-c', plan.command);
  return args;
}

/** What to exec: either the shell directly or bwrap wrapping it. */
export interface LaunchSpec {
  file: string;
  args: string[];
}

/** Builds the launch for a command, sandboxed with `bwrapPath` when given. */
export function buildLaunch(plan: BwrapPlan, bwrapPath: string | null): LaunchSpec {
  if (bwrapPath === null) return { file: plan.shell, args: ['-c', plan.command] };
  return { file: bwrapPath, args: buildBwrapArgs(plan) };
}

/**
 * Finds a usable bwrap: `command -v bwrap` on `path`, then a trial run (bwrap is useless where
 * unprivileged user namespaces are disabled). Null when either fails. Never throws.
 */
export async function detectBwrap(path: string): Promise<string | null> {
  const found = await run('/bin/sh', ['-c', 'command -v bwrap'], path);
  const bwrap = found?.trim();
  if (!bwrap) return null;
  const probe = await run(bwrap, ['--die-with-parent', '--unshare-all', '--ro-bind', '/', '/', '--', 'true'], path);
  return probe === null ? null : bwrap;
}

function run(file: string, args: string[], path: string): Promise<string | null> {
  return new Promise((resolve) => {
    execFile(file, args, { env: { PATH: path }, timeout: 5_000 }, (err, stdout) => resolve(err ? null : stdout));
  });
}
