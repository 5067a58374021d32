/**
 * A connected workspace of the `local` provider: a directory on the worker host. File operations walk
 * beneath its root without following a swapped-in symlink (rooted-fs.ts), commands run in their own
 * process groups inside the workspace's sandbox (workspace-sandbox.ts), and it owns the table of
 * background processes, scoped per chat. One instance exists per workspace per provider instance, so
 * background processes outlive the tool call that started them.
 */
import { randomBytes } from 'node:crypto';
import { WorkspacePathError } from './errors';
import { GroupProcess } from './process-group';
import type { RootedFs } from './rooted-fs';
import { buildCommandEnv, unsandboxedLaunch, type LaunchSpec } from './sandbox';
import { limitHits, type WorkspaceSandbox } from './workspace-sandbox';
import type { CgroupEvents } from './cgroups';
import type {
  ExecOptions,
  ExecResult,
  ProcessInfo,
  ProcessSignal,
  ProcessSnapshot,
  SignalOutcome,
  StartProcessOptions,
  Workspace,
} from './types';

/** What the provider hands each of its workspaces. */
export interface LocalWorkspaceSettings {
  id: string;
  /** The root as configured (may contain symlinks). */
  root: string;
  /** realpath of the root: what commands and returned paths use. */
  realRoot: string;
  /** Per-workspace HOME, outside the root so dotfiles do not show up in the project. */
  home: string;
  shell: string;
  /** Base environment of commands (never the worker's own environment). */
  env: Readonly<Record<string, string>>;
  /** Confined file access beneath the root. */
  fs: RootedFs;
  /**
   * The workspace's sandbox; null when the operator turned sandboxing off. Throws `WorkspaceError`
   * `sandbox_unavailable` when the sandbox is required but cannot run.
   */
  sandbox: () => Promise<WorkspaceSandbox | null>;
  /** Output kept in memory per process (the tail). */
  bufferBytes: number;
  /** SIGTERM → SIGKILL grace when a command times out or processes are stopped. */
  killGraceMs: number;
  /** Exited background processes kept for `process_list` / `process_output` before the oldest are dropped. */
  maxExitedProcesses: number;
}

interface Entry {
  id: string;
  owner: string;
  command: string;
  proc: GroupProcess;
}

/** How long `signalProcess` waits for the group leader to exit after signalling it. */
const SIGNAL_WAIT_MS = 2_000;

/** The local implementation of `Workspace`. Construct through `LocalWorkspaceProvider.connect`. */
export class LocalWorkspace implements Workspace {
  readonly id: string;
  readonly root: string;
  private readonly processes = new Map<string, Entry>();
  private readonly foreground = new Set<GroupProcess>();

  constructor(private readonly settings: LocalWorkspaceSettings) {
    this.id = settings.id;
    this.root = settings.realRoot;
  }

  /** When a tool last used the workspace (commands, files, processes), for idle reaping. */
  lastUsedAt = Date.now();

  resolvePath(p: string): Promise<string> {
    return this.settings.fs.resolve(p);
  }

  async exec(options: ExecOptions): Promise<ExecResult> {
    const started = Date.now();
    const { proc, sandbox, baseline } = await this.launch(options.command, options.cwd, options.env);
    this.foreground.add(proc);
    try {
      const finished = await proc.waitExit(options.timeoutMs, options.signal);
      const aborted = !finished && (options.signal?.aborted ?? false);
      if (!finished) {
        // An interrupt must stop the command at once; a timeout gets a grace period to flush output.
        await proc.terminate(aborted ? 0 : this.settings.killGraceMs);
      } else if (proc.groupAlive()) {
        // The command is over but left members behind (`server &`): they would hold the output pipes
        // and escape the process table, so they go too. Long-running work belongs in the background.
        await proc.terminate(Math.min(this.settings.killGraceMs, 500));
      }
      proc.detach();
      // Read after everything the command left is gone: a kill or refused fork is counted by then.
      const after = baseline ? await sandbox!.limitEvents() : null;
      return {
        exitCode: proc.exitCode,
        signal: proc.exitSignal,
        output: proc.output.text(),
        outputBytes: proc.output.total,
        timedOut: !finished && !aborted,
        aborted,
        durationMs: Date.now() - started,
        sandbox: sandbox?.describe() ?? null,
        ...(baseline ? { limitsHit: limitHits(baseline, after) } : {}),
      };
    } finally {
      this.foreground.delete(proc);
    }
  }

  async stat(p: string): Promise<{ kind: 'file' | 'directory' | 'other'; size: number } | null> {
    this.touch();
    return this.settings.fs.stat(p);
  }

  async readFile(p: string): Promise<Buffer> {
    this.touch();
    return this.settings.fs.readFile(p);
  }

  async listDirectory(p: string): Promise<string[]> {
    this.touch();
    return this.settings.fs.listDirectory(p);
  }

  writeFile(p: string, content: string | Buffer): Promise<void> {
    return this.writeFiles([{ path: p, content }]);
  }

  async writeFiles(files: ReadonlyArray<{ path: string; content: string | Buffer }>): Promise<void> {
    this.touch();
    await this.settings.fs.writeFiles(files);
  }

  async startProcess(options: StartProcessOptions): Promise<ProcessInfo> {
    const { proc } = await this.launch(options.command, options.cwd);
    let id: string;
    do id = `proc-${randomBytes(4).toString('hex')}`;
    while (this.processes.has(id));
    const entry: Entry = { id, owner: options.owner, command: options.command, proc };
    this.processes.set(id, entry);
    this.evictExited();
    return info(entry);
  }

  async getProcess(owner: string, processId: string): Promise<ProcessSnapshot | null> {
    const entry = this.find(owner, processId);
    return entry ? snapshot(entry) : null;
  }

  async waitProcess(
    owner: string,
    processId: string,
    options: { timeoutMs: number; signal?: AbortSignal },
  ): Promise<ProcessSnapshot | null> {
    const entry = this.find(owner, processId);
    if (!entry) return null;
    await entry.proc.waitExit(options.timeoutMs, options.signal);
    return snapshot(entry);
  }

  async listProcesses(owner: string): Promise<ProcessInfo[]> {
    return [...this.processes.values()].filter((e) => e.owner === owner).map(info);
  }

  async signalProcess(owner: string, processId: string, signal: ProcessSignal): Promise<SignalOutcome | null> {
    const entry = this.find(owner, processId);
    if (!entry) return null;
    if (!entry.proc.running) {
      // Already exited: whatever it left in its group gets the signal too, then the entry is reaped.
      entry.proc.signal(signal);
      this.reap(entry);
      return { signaled: false, process: info(entry), reaped: true };
    }
    const signaled = entry.proc.signal(signal);
    const exited = await entry.proc.waitExit(SIGNAL_WAIT_MS);
    if (exited) this.reap(entry);
    return { signaled, process: info(entry), reaped: exited };
  }

  async killProcesses(owner?: string): Promise<number> {
    const victims = [...this.processes.values()]
      .filter((e) => (owner === undefined || e.owner === owner) && (e.proc.running || e.proc.groupAlive()))
      .map((e) => e.proc);
    // Without an owner this is a stop: foreground commands of every chat go too.
    if (owner === undefined) victims.push(...this.foreground);
    await Promise.all(victims.map((p) => p.terminate(Math.min(this.settings.killGraceMs, 500))));
    return victims.length;
  }

  private find(owner: string, processId: string): Entry | undefined {
    this.touch();
    const entry = this.processes.get(processId);
    return entry && entry.owner === owner ? entry : undefined;
  }

  private reap(entry: Entry): void {
    entry.proc.detach();
    this.processes.delete(entry.id);
  }

  /** Drops the oldest exited entries beyond the limit (killing anything their group left running). */
  private evictExited(): void {
    const exited = [...this.processes.values()].filter((e) => !e.proc.running);
    for (const entry of exited.slice(0, Math.max(0, exited.length - this.settings.maxExitedProcesses))) {
      entry.proc.signal('SIGKILL');
      this.reap(entry);
    }
  }

  /** Records use now (tools call it on every operation). */
  touch(): void {
    this.lastUsedAt = Date.now();
  }

  /** Whether anything of this workspace still runs (background processes or foreground commands). */
  get busy(): boolean {
    return this.foreground.size > 0 || [...this.processes.values()].some((e) => e.proc.running);
  }

  private async launch(
    command: string,
    cwd: string | undefined,
    extraEnv?: Record<string, string>,
  ): Promise<{ proc: GroupProcess; sandbox: WorkspaceSandbox | null; baseline: CgroupEvents | null }> {
    this.touch();
    const dir = cwd === undefined ? this.settings.realRoot : await this.resolvePath(cwd);
    const dirInfo = await this.settings.fs.stat(dir);
    if (dirInfo?.kind !== 'directory') {
      throw new WorkspacePathError(
        cwd ?? '.',
        `The working directory "${cwd ?? '.'}" does not exist or is not a directory.`,
      );
    }
    const sandbox = await this.settings.sandbox();
    const env = buildCommandEnv({ ...this.settings.env, ...sandbox?.env, ...extraEnv }, this.settings.home);
    let launch: LaunchSpec;
    let hostCwd = dir;
    let baseline: CgroupEvents | null = null;
    if (sandbox) {
      launch = await sandbox.launch(command, dir, this.settings.shell);
      // The workspace's limit-hit counters before the command: what it adds is reported with its result.
      baseline = await sandbox.limitEvents();
      // The sandbox user may not reach the workspace's parents on the host; bubblewrap changes directory.
      hostCwd = '/';
    } else {
      launch = unsandboxedLaunch(this.settings.shell, command);
    }
    const proc = new GroupProcess({ launch, cwd: hostCwd, env, bufferBytes: this.settings.bufferBytes });
    return { proc, sandbox, baseline };
  }
}

function info(entry: Entry): ProcessInfo {
  const { proc } = entry;
  return {
    id: entry.id,
    command: entry.command,
    status: proc.running ? 'running' : 'exited',
    exitCode: proc.exitCode,
    signal: proc.exitSignal,
    startedAt: proc.startedAt.toISOString(),
    endedAt: proc.endedAt?.toISOString() ?? null,
  };
}

function snapshot(entry: Entry): ProcessSnapshot {
  return { ...info(entry), output: entry.proc.output.text(), outputBytes: entry.proc.output.total };
}
