/**
 * The workspace contract: where tools act. A `WorkspaceProvider` creates, starts, stops and connects to
 * workspaces built from templates; a connected `Workspace` offers confined file access, command execution
 * and a per-chat process table. The agent loop and the tools only see these interfaces, so another provider
 * (containers, remote hosts) plugs in without touching them. The built-in provider is `local.provider.ts`.
 */

/** Lifecycle of a workspace as a provider reports it. */
export type WorkspaceStatus = 'running' | 'stopped' | 'deleted';

/** One parameter a template accepts when a workspace is created from it. */
export interface TemplateParameter {
  name: string;
  description: string;
  type: 'string' | 'number' | 'boolean';
  required: boolean;
  /** Used when the parameter is not given; always a string, as parameters are passed to setup as text. */
  default?: string;
}

/** What a workspace is built from; shown to the model by the template tools. */
export interface WorkspaceTemplate {
  id: string;
  name: string;
  displayName: string;
  description: string;
  parameters: TemplateParameter[];
}

export interface CreateWorkspaceRequest {
  templateId: string;
  /** Human-readable name; generated from the template name when omitted. */
  name?: string;
  /** Template parameter values by parameter name. */
  parameters?: Record<string, string>;
}

/** A provider's view of one workspace. */
export interface WorkspaceInfo {
  id: string;
  name: string;
  templateId: string;
  status: WorkspaceStatus;
  /** ISO-8601 creation time. */
  createdAt: string;
}

/**
 * Creates and manages workspaces. Methods throw `WorkspaceError` (src/workspaces/errors.ts) with a stable
 * `code` for expected failures (unknown template or workspace, deleted workspace, bad parameters); anything
 * else is an infrastructure fault.
 */
export interface WorkspaceProvider {
  /** Stable provider name, stored with the workspace (for example `local`). */
  readonly kind: string;
  listTemplates(): Promise<WorkspaceTemplate[]>;
  /** Null when no such template exists. */
  getTemplate(templateId: string): Promise<WorkspaceTemplate | null>;
  /** Builds a workspace from a template and leaves it running. */
  create(request: CreateWorkspaceRequest, options?: { signal?: AbortSignal }): Promise<WorkspaceInfo>;
  /** Null when the provider never created this id. Deleted workspaces are reported with status `deleted`. */
  get(workspaceId: string): Promise<WorkspaceInfo | null>;
  /** Starts a stopped workspace; a running one is returned unchanged. Throws `deleted` for deleted ones. */
  start(workspaceId: string, options?: { signal?: AbortSignal }): Promise<WorkspaceInfo>;
  /** Stops a workspace, killing every process running in it. */
  stop(workspaceId: string): Promise<WorkspaceInfo>;
  /** Stops and removes a workspace; later `start` calls fail with code `deleted`. */
  delete(workspaceId: string): Promise<WorkspaceInfo>;
  /** A handle for tools. Throws code `not_running` unless the workspace is running. */
  connect(workspaceId: string): Promise<Workspace>;
  /** Kills every process of every workspace this instance started (worker shutdown). */
  dispose(): Promise<void>;
}

/** Signals the model may send to a process group. */
export type ProcessSignal = 'SIGTERM' | 'SIGKILL' | 'SIGINT' | 'SIGHUP';

export interface ExecOptions {
  command: string;
  /** Working directory, resolved inside the workspace; the workspace root when omitted. */
  cwd?: string;
  /** The whole process group is killed when this elapses. */
  timeoutMs: number;
  /** Aborting kills the whole process group at once (user interrupt). */
  signal?: AbortSignal;
  /** Extra environment variables; the non-interactive variables still win. */
  env?: Record<string, string>;
}

export interface ExecResult {
  /** Exit code of the shell; null when it was killed by a signal. */
  exitCode: number | null;
  /** The signal that ended the shell, if any. */
  signal: string | null;
  /** stdout and stderr interleaved, decoded as UTF-8. At most the provider's buffer size (the tail is kept). */
  output: string;
  /** Bytes of output produced in total, including any dropped from the start of `output`. */
  outputBytes: number;
  timedOut: boolean;
  aborted: boolean;
  durationMs: number;
  /** What isolated the command (network policy, resource limits); null when sandboxing is off. */
  sandbox: SandboxReport | null;
  /**
   * Limits of the workspace as a whole its cgroup counted as hit while the command ran (by the command or
   * by a background process of the same workspace). Absent without a cgroup backend.
   */
  limitsHit?: WorkspaceLimitHit[];
}

/** A per-workspace limit the kernel enforced: a process killed for memory, or a refused fork. */
export type WorkspaceLimitHit = 'memory' | 'processes';

/** The isolation a command ran under, as reported to the model. */
export interface SandboxReport {
  /** `none`, `internet`, or `allowlist (domains…)`. */
  network: string;
  limits: {
    processes: number;
    memoryMb: number;
    fileSizeMb: number;
    cpuSeconds: number;
    openFiles: number;
    tmpMb: number;
  };
  /** Limits of the workspace as a whole, where a cgroup enforces them; null: rlimits only. */
  cgroup: { version: 'v1' | 'v2'; memoryMb: number; processes: number; cpus: number } | null;
}

export interface StartProcessOptions {
  command: string;
  cwd?: string;
  /** Who may see and signal the process: the chat id. */
  owner: string;
}

export type ProcessStatus = 'running' | 'exited';

/** A tracked background process. */
export interface ProcessInfo {
  id: string;
  command: string;
  status: ProcessStatus;
  exitCode: number | null;
  signal: string | null;
  /** ISO-8601 times. */
  startedAt: string;
  endedAt: string | null;
}

export interface ProcessSnapshot extends ProcessInfo {
  /** Buffered output (stdout and stderr interleaved), the tail when the buffer overflowed. */
  output: string;
  outputBytes: number;
}

export interface SignalOutcome {
  /** Whether the signal was sent (false when the process had already exited). */
  signaled: boolean;
  /** The state after the signal (and a short wait for the process to exit). */
  process: ProcessInfo;
  /** True when the process has exited and was removed from the table. */
  reaped: boolean;
}

/**
 * A connected workspace. Every path argument goes through `resolvePath`, which throws `WorkspacePathError`
 * for anything outside the root (`..` escapes, absolute paths elsewhere, symlinks leading out). Processes
 * are scoped to an owner (the chat): lookups with another owner behave as if the process did not exist.
 */
export interface Workspace {
  readonly id: string;
  /** Absolute path of the workspace root as commands inside the workspace see it. */
  readonly root: string;
  /** Absolute, symlink-resolved path for `p` (relative to the root, or absolute inside it). */
  resolvePath(p: string): Promise<string>;
  /** Runs a command in the foreground, in its own process group, with a non-interactive environment. */
  exec(options: ExecOptions): Promise<ExecResult>;
  /** File metadata; null when the path does not exist. */
  stat(p: string): Promise<{ kind: 'file' | 'directory' | 'other'; size: number } | null>;
  readFile(p: string): Promise<Buffer>;
  /** Directory entries, directories suffixed with `/`, sorted. */
  listDirectory(p: string): Promise<string[]>;
  /** Writes a file atomically (temp file + rename), creating parent directories. */
  writeFile(p: string, content: string | Buffer): Promise<void>;
  /**
   * Writes several files as one unit as far as a file system allows: every file is staged first and only
   * then are they renamed into place, so a failure while staging changes nothing.
   */
  writeFiles(files: ReadonlyArray<{ path: string; content: string | Buffer }>): Promise<void>;
  startProcess(options: StartProcessOptions): Promise<ProcessInfo>;
  /** Null when the process does not exist or belongs to another owner. */
  getProcess(owner: string, processId: string): Promise<ProcessSnapshot | null>;
  /** Waits until the process exits, `timeoutMs` passes or `signal` aborts; null as for `getProcess`. */
  waitProcess(
    owner: string,
    processId: string,
    options: { timeoutMs: number; signal?: AbortSignal },
  ): Promise<ProcessSnapshot | null>;
  listProcesses(owner: string): Promise<ProcessInfo[]>;
  /** Signals the whole process group; exited processes are reaped. Null as for `getProcess`. */
  signalProcess(owner: string, processId: string, signal: ProcessSignal): Promise<SignalOutcome | null>;
  /** Kills every running process of `owner` (all owners when omitted); resolves with how many were killed. */
  killProcesses(owner?: string): Promise<number>;
}
