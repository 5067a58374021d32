/**
 * The built-in `local` workspace provider: each workspace is a directory `<baseDir>/<id>` on the worker
 * host, with its metadata and HOME kept apart under `<baseDir>/.chatd/`. Every command and file
 * operation is confined (docs/workspaces.md): commands run in a bubblewrap sandbox, as a host uid of the
 * workspace's own when the worker runs as root, with rlimits, per-workspace cgroup limits where the host
 * allows (cgroups.ts) and the template's network policy; file tools walk beneath the root. Without a usable sandbox the tools refuse to run unless the operator
 * turned sandboxing off. Processes live in this instance, so a workspace's background processes are
 * visible only on its host (tool activities are routed there).
 */
import { execFile } from 'node:child_process';
import { randomBytes, randomInt, randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, chown, mkdir, mkdtemp, open, readFile, realpath, rename, rm, stat, writeFile } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { detectCgroups, type CgroupBackend, type CgroupDetection, type CgroupVersion } from './cgroups';
import type { EgressPolicy } from './egress/policy';
import { WorkspaceError } from './errors';
import { LocalWorkspace } from './local-workspace';
import { RootedFs, type FileOwner } from './rooted-fs';
import {
  DEFAULT_LIMITS,
  DEFAULT_PATH,
  DEFAULT_UIDS,
  detectSandbox,
  type SandboxDetection,
  type SandboxLimits,
} from './sandbox';
import type { CreateWorkspaceRequest, WorkspaceInfo, WorkspaceProvider, WorkspaceTemplate } from './types';
import { WorkspaceSandbox, type WorkspaceSandboxSettings } from './workspace-sandbox';

/** A template of the local provider: files to write and a setup command to run at creation. */
export interface LocalTemplate extends WorkspaceTemplate {
  /** Relative path → content, written into the new workspace. */
  files?: Record<string, string>;
  /** Run in the new workspace after the files; parameters arrive as `CHATD_PARAM_<NAME>` variables. */
  setupCommand?: string;
  /** What commands may reach; the provider's default when absent. */
  network?: EgressPolicy;
}

/** Whether commands are sandboxed: on, turned off by the operator, or unable to run (and why). */
export type SandboxStatus = { ok: true; off: boolean } | { ok: false; reason: string };

/** The metadata file of a workspace: its info plus the host uid its sandbox runs as (root workers). */
interface WorkspaceMeta extends WorkspaceInfo {
  uid?: number;
}

/** The template offered when none are configured. */
export const EMPTY_TEMPLATE: LocalTemplate = {
  id: 'empty',
  name: 'empty',
  displayName: 'Empty directory',
  description: 'An empty directory on the worker host, for scratch work or cloning a repository into.',
  parameters: [],
};

export interface LocalProviderOptions {
  /** Directory holding all workspaces; created when missing. */
  baseDir: string;
  templates?: LocalTemplate[];
  /**
   * `bwrap` (default): every command and file tool is sandboxed, and workspace tools fail with a clear
   * error when the sandbox cannot run. `off`: commands run unsandboxed as the worker (an explicit,
   * reported operator opt-out).
   */
  sandbox?: 'bwrap' | 'off';
  /** Base environment of commands (PATH, LANG, proxies…). The worker's own environment is never passed. */
  env?: Record<string, string>;
  /** Shell running commands; `/bin/bash` when present, else `/bin/sh`. */
  shell?: string;
  /** What commands may reach when their template does not say. Default `none`. */
  network?: EgressPolicy;
  /** Resource limits of commands. */
  limits?: Partial<SandboxLimits>;
  /**
   * Per-workspace cgroups (cgroups.ts): `auto` (default: cgroup v2 where delegated, else v1, else none),
   * `off`, or the absolute path of a delegated cgroup2 directory. Root workers only.
   */
  cgroup?: string;
  /** Host uids handed to workspaces when the worker runs as root: `[base, base + count)`. */
  uids?: { base: number; count: number };
  /** Background processes of a workspace unused this long are stopped. Default 30 min. */
  idleReapMs?: number;
  /** Directory for egress proxy sockets (short: Unix socket paths are limited). Default: a new temp dir. */
  egressDir?: string;
  /** Test hooks of the egress proxy (name resolution, address check); production uses the defaults. */
  egressHooks?: WorkspaceSandboxSettings['egressHooks'];
  log?: { info(obj: object, msg: string): void; warn(obj: object, msg: string): void };
  /** Host paths made visible read-only inside the sandbox in addition to the system directories. */
  readOnlyPaths?: string[];
  /** Output kept in memory per process. Default 1 MiB. */
  outputBufferBytes?: number;
  /** Grace between SIGTERM and SIGKILL. Default 2 s. */
  killGraceMs?: number;
  /** Limit for a template's setup command. Default 10 min. */
  setupTimeoutMs?: number;
  /** Exited background processes remembered per workspace. Default 50. */
  maxExitedProcesses?: number;
  /** Finds and tries the sandbox's programs (injectable for tests); defaults to `detectSandbox`. */
  detectSandbox?: (pathEnv: string, uid?: number) => Promise<SandboxDetection>;
}

const execFileAsync = promisify(execFile);

const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/;

/** The `local` `WorkspaceProvider`. Call `dispose()` on shutdown to stop every process it started. */
export class LocalWorkspaceProvider implements WorkspaceProvider {
  readonly kind = 'local';
  private readonly templates: LocalTemplate[];
  private readonly workspaces = new Map<string, LocalWorkspace>();
  private readonly sandboxes = new Map<string, WorkspaceSandbox>();
  private detection: Promise<SandboxDetection> | undefined;
  private cgroups: Promise<CgroupDetection> | undefined;
  private egressDir: Promise<string> | undefined;
  private readonly reaper: NodeJS.Timeout;
  /** Root workers give each workspace its own host uid; others run sandboxes as themselves. */
  private readonly asRoot = process.getuid?.() === 0;

  constructor(private readonly options: LocalProviderOptions) {
    this.templates = options.templates ?? [EMPTY_TEMPLATE];
    const idle = options.idleReapMs ?? 30 * 60_000;
    this.reaper = setInterval(() => void this.reapIdle(idle), Math.min(60_000, Math.max(250, idle / 4)));
    this.reaper.unref();
  }

  async listTemplates(): Promise<WorkspaceTemplate[]> {
    return this.templates.map(publicTemplate);
  }

  async getTemplate(templateId: string): Promise<WorkspaceTemplate | null> {
    const template = this.templates.find((t) => t.id === templateId);
    return template ? publicTemplate(template) : null;
  }

  async create(request: CreateWorkspaceRequest, options: { signal?: AbortSignal } = {}): Promise<WorkspaceInfo> {
    const template = this.templates.find((t) => t.id === request.templateId);
    if (!template) throw new WorkspaceError('template_not_found', `Template "${request.templateId}" does not exist.`);
    const params = resolveParameters(template, request.parameters ?? {});
    const info: WorkspaceInfo = {
      id: randomUUID(),
      name: request.name?.trim() || `${template.name}-${randomBytes(2).toString('hex')}`,
      templateId: template.id,
      status: 'running',
      createdAt: new Date().toISOString(),
    };
    await mkdir(this.rootOf(info.id), { recursive: true });
    try {
      const uid = await this.allocateUid(info.id);
      await this.prepareDirs(info.id, uid);
      await this.writeMeta({ ...info, uid });
      const workspace = await this.connect(info.id);
      if (template.files) {
        await workspace.writeFiles(Object.entries(template.files).map(([p, content]) => ({ path: p, content })));
      }
      if (template.setupCommand) {
        const result = await workspace.exec({
          command: template.setupCommand,
          timeoutMs: this.options.setupTimeoutMs ?? 600_000,
          signal: options.signal,
          env: Object.fromEntries(Object.entries(params).map(([k, v]) => [`CHATD_PARAM_${k.toUpperCase()}`, v])),
        });
        if (result.exitCode !== 0) {
          const why = result.timedOut
            ? 'timed out'
            : result.aborted
              ? 'was interrupted'
              : `exited with ${result.exitCode}`;
          throw new WorkspaceError('setup_failed', `The template's setup ${why}: ${result.output.slice(-2_000)}`);
        }
      }
      return info;
    } catch (err) {
      await this.delete(info.id).catch(() => undefined);
      throw err;
    }
  }

  async get(workspaceId: string): Promise<WorkspaceInfo | null> {
    const meta = await this.readMeta(workspaceId);
    if (!meta) return null;
    const { uid: _uid, ...info } = meta;
    return info;
  }

  async start(workspaceId: string): Promise<WorkspaceInfo> {
    const info = await this.require(workspaceId);
    if (info.status === 'deleted') {
      throw new WorkspaceError('deleted', 'The workspace was deleted; create a new one with create_workspace.');
    }
    if (info.status === 'running') return info;
    const started: WorkspaceInfo = { ...info, status: 'running' };
    await this.updateMeta(started);
    return started;
  }

  async stop(workspaceId: string): Promise<WorkspaceInfo> {
    const info = await this.require(workspaceId);
    await this.workspaces.get(workspaceId)?.killProcesses();
    const sandbox = this.sandboxes.get(workspaceId);
    if (sandbox) await sandbox.stop();
    else await (await this.cgroupBackend(false))?.cgroupOf(workspaceId).remove(); // left by an earlier worker
    if (info.status !== 'running') return info;
    const stopped: WorkspaceInfo = { ...info, status: 'stopped' };
    await this.updateMeta(stopped);
    return stopped;
  }

  async delete(workspaceId: string): Promise<WorkspaceInfo> {
    const info = await this.stop(workspaceId);
    this.workspaces.delete(workspaceId);
    this.sandboxes.delete(workspaceId);
    // Every process of the workspace is gone (stop), so nothing races this removal.
    await rm(this.rootOf(workspaceId), { recursive: true, force: true });
    await rm(this.homeOf(workspaceId), { recursive: true, force: true });
    const deleted: WorkspaceInfo = { ...info, status: 'deleted' };
    await this.updateMeta(deleted);
    return deleted;
  }

  async connect(workspaceId: string): Promise<LocalWorkspace> {
    const info = await this.require(workspaceId);
    if (info.status === 'deleted') {
      throw new WorkspaceError('deleted', 'The workspace was deleted; create a new one with create_workspace.');
    }
    if (info.status !== 'running') {
      throw new WorkspaceError('not_running', 'The workspace is stopped; start it with start_workspace.');
    }
    const cached = this.workspaces.get(workspaceId);
    if (cached) return cached;
    const owner = await this.ownerOf(workspaceId);
    const root = this.rootOf(workspaceId);
    const realRoot = await realpath(root);
    const home = this.homeOf(workspaceId);
    const workspace = new LocalWorkspace({
      id: workspaceId,
      root,
      realRoot,
      home,
      shell: this.options.shell ?? (existsSync('/bin/bash') ? '/bin/bash' : '/bin/sh'),
      env: this.options.env ?? {},
      fs: new RootedFs(root, realRoot, owner),
      sandbox: () => this.sandboxOf(workspaceId, info.templateId, realRoot, home, owner),
      bufferBytes: this.options.outputBufferBytes ?? 1024 * 1024,
      killGraceMs: this.options.killGraceMs ?? 2_000,
      maxExitedProcesses: this.options.maxExitedProcesses ?? 50,
    });
    // Two concurrent connects may both get here; keep the first so there is one process table.
    const winner = this.workspaces.get(workspaceId) ?? workspace;
    this.workspaces.set(workspaceId, winner);
    return winner;
  }

  async dispose(): Promise<void> {
    clearInterval(this.reaper);
    await Promise.all([...this.workspaces.values()].map((w) => w.killProcesses()));
    await Promise.all([...this.sandboxes.values()].map((s) => s.stop()));
    await (await this.cgroupBackend(false))?.prune();
  }

  /**
   * Called once by the process that serves this host's workspaces, before it takes tool calls: picks the
   * cgroup backend (logging which and why) and removes the empty cgroups of this host's workspaces a
   * previous worker left (only ids with metadata in this provider's directory: a cgroup parent shared with
   * other workers is safe). Never throws.
   */
  async prepareHost(): Promise<void> {
    try {
      const backend = await this.cgroupBackend(true);
      if (!backend) return;
      const swept = await backend.sweep((id) => !this.sandboxes.has(id) && existsSync(this.metaOf(id)));
      if (swept.removed > 0 || swept.busy > 0) {
        this.options.log?.info(swept, 'removed the cgroups of workspaces a previous worker left');
      }
    } catch (err) {
      this.options.log?.warn({ err }, 'could not prepare the workspace cgroups');
    }
  }

  /** Which per-workspace cgroup backend commands get (null: rlimits only), and why. */
  async workspaceLimits(): Promise<{ cgroup: CgroupVersion | null; reason: string }> {
    const detection = await this.detectCgroupBackend();
    return { cgroup: detection.backend?.version ?? null, reason: detection.reason };
  }

  /**
   * Whether commands are sandboxed here: `{ ok: true }`, or why not. Detected once per instance;
   * `off` reports ok with `off: true`.
   */
  async sandboxStatus(): Promise<SandboxStatus> {
    if (this.options.sandbox === 'off') return { ok: true, off: true };
    const detection = await this.detect();
    if (!detection.ok) return detection;
    const blocked = await this.untraversableAncestor();
    return blocked ? { ok: false, reason: blocked } : { ok: true, off: false };
  }

  private detect(): Promise<SandboxDetection> {
    const uid = this.asRoot ? (this.options.uids ?? DEFAULT_UIDS).base : undefined;
    this.detection ??= (this.options.detectSandbox ?? detectSandbox)(this.options.env?.PATH ?? DEFAULT_PATH, uid);
    return this.detection;
  }

  /** Detected once per instance (the log line says which backend and why); `off` sandboxes get none. */
  private detectCgroupBackend(): Promise<CgroupDetection> {
    this.cgroups ??= (async () => {
      const setting = this.options.cgroup ?? 'auto';
      const detection: CgroupDetection =
        this.options.sandbox === 'off'
          ? { backend: null, reason: 'the sandbox is off' }
          : await detectCgroups(setting, this.asRoot);
      const log = this.options.log;
      if (detection.backend) {
        log?.info(
          { cgroup: detection.backend.version, reason: detection.reason },
          'workspace limits: per-workspace cgroups',
        );
      } else if (setting !== 'auto' && setting !== 'off') {
        log?.warn({ reason: detection.reason }, 'workspace limits: rlimits only, the configured cgroup is unusable');
      } else {
        log?.info({ reason: detection.reason }, 'workspace limits: rlimits only');
      }
      return detection;
    })();
    return this.cgroups;
  }

  /** The cgroup backend; `detect` false: only when detection already ran (never starts it). */
  private async cgroupBackend(detect: boolean): Promise<CgroupBackend | null> {
    if (!detect && !this.cgroups) return null;
    return (await this.detectCgroupBackend()).backend;
  }

  /** The workspace's sandbox; null when sandboxing is off; throws `sandbox_unavailable` when it cannot run. */
  private async sandboxOf(
    workspaceId: string,
    templateId: string,
    root: string,
    home: string,
    owner: FileOwner | null,
  ): Promise<WorkspaceSandbox | null> {
    if (this.options.sandbox === 'off') return null;
    const detection = await this.detect();
    if (!detection.ok) throw new WorkspaceError('sandbox_unavailable', detection.reason);
    let sandbox = this.sandboxes.get(workspaceId);
    if (!sandbox) {
      this.egressDir ??= this.makeEgressDir();
      const template = this.templates.find((t) => t.id === templateId);
      const cgroups = await this.cgroupBackend(true);
      sandbox = new WorkspaceSandbox({
        workspaceId,
        root,
        home,
        uid: owner?.uid,
        gid: owner?.gid,
        tools: detection.tools,
        limits: { ...DEFAULT_LIMITS, ...this.options.limits },
        cgroups,
        readOnlyPaths: this.options.readOnlyPaths ?? [],
        egress: template?.network ?? this.options.network ?? { mode: 'none' },
        egressSocket: path.join(await this.egressDir, `${workspaceId.slice(0, 18)}.sock`),
        egressHooks: this.options.egressHooks,
        log: this.options.log,
      });
      sandbox = this.sandboxes.get(workspaceId) ?? sandbox;
      this.sandboxes.set(workspaceId, sandbox);
    }
    return sandbox;
  }

  /** Stops the processes and the sandbox of every workspace no tool has used for `idleMs`. */
  private async reapIdle(idleMs: number): Promise<void> {
    const cutoff = Date.now() - idleMs;
    for (const [id, workspace] of this.workspaces) {
      if (workspace.lastUsedAt > cutoff) continue;
      const killed = workspace.busy ? await workspace.killProcesses() : 0;
      await this.sandboxes.get(id)?.stop();
      if (killed > 0) this.options.log?.info({ workspaceId: id, killed }, 'stopped the processes of an idle workspace');
    }
  }

  private async makeEgressDir(): Promise<string> {
    const dir = this.options.egressDir ?? (await mkdtemp(path.join(os.tmpdir(), 'chatd-egress-')));
    await mkdir(dir, { recursive: true });
    // The sandbox's uid binds its socket from here: traversable, not listable.
    await chmod(dir, 0o711);
    return dir;
  }

  /**
   * Reserves a host uid for a new workspace when the worker runs as root (a reservation file created
   * exclusively, so two processes sharing the directory never hand out the same uid); undefined otherwise.
   */
  private async allocateUid(workspaceId: string): Promise<number | undefined> {
    if (!this.asRoot || this.options.sandbox === 'off') return undefined;
    const { base, count } = this.options.uids ?? DEFAULT_UIDS;
    const dir = path.join(this.options.baseDir, '.chatd', 'uids');
    await mkdir(dir, { recursive: true, mode: 0o700 });
    for (let attempt = 0; attempt < 64; attempt++) {
      const uid = base + randomInt(count);
      try {
        const handle = await open(path.join(dir, String(uid)), 'wx', 0o600);
        await handle.writeFile(workspaceId);
        await handle.close();
        return uid;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
    }
    throw new Error('No free workspace uid: the configured uid range is exhausted.');
  }

  /** Creates the root and home, owned by the workspace's uid (root workers) and closed to others. */
  private async prepareDirs(workspaceId: string, uid: number | undefined): Promise<void> {
    if (uid !== undefined) await this.makeTraversable();
    const dirs = [this.rootOf(workspaceId), this.homeOf(workspaceId)];
    for (const dir of dirs) {
      await mkdir(dir, { recursive: true });
      if (uid !== undefined) {
        await chown(dir, uid, uid);
        await chmod(dir, 0o700);
      }
    }
  }

  /**
   * A workspace's sandbox runs as the workspace's own uid, which bubblewrap needs to reach the root and
   * home through their parents: those are made traversable but not listable (0711), and an ancestor
   * outside chatd's directory that is not traversable is reported for the operator to fix.
   */
  private async makeTraversable(): Promise<void> {
    const base = path.resolve(this.options.baseDir);
    for (const dir of [base, path.join(base, '.chatd'), path.dirname(this.homeOf('x'))]) {
      await mkdir(dir, { recursive: true });
      await chmod(dir, 0o711);
    }
    const blocked = await this.untraversableAncestor();
    if (blocked) throw new WorkspaceError('sandbox_unavailable', blocked);
  }

  /** Why workspace uids cannot reach the workspaces (a parent without o+x), or null (root workers only). */
  private async untraversableAncestor(): Promise<string | null> {
    if (!this.asRoot) return null;
    const base = path.resolve(this.options.baseDir);
    for (let dir = path.dirname(base); ; dir = path.dirname(dir)) {
      const info = await stat(dir).catch(() => null); // not created yet: chatd makes it traversable
      if (info && (info.mode & 0o001) === 0) {
        return (
          `Workspace sandboxes run as their own users, which cannot reach ${base} because ${dir} is not ` +
          `traversable. An operator must run: chmod o+x ${dir}`
        );
      }
      if (dir === path.dirname(dir)) return null;
    }
  }

  /**
   * Who owns what the worker writes into the workspace. A workspace created before uids were handed out
   * gets one now, and its files are handed over before any command runs (`chown -P` follows no symlink).
   */
  private async ownerOf(workspaceId: string): Promise<FileOwner | null> {
    if (!this.asRoot || this.options.sandbox === 'off') return null;
    const meta = await this.readMeta(workspaceId);
    if (!meta) throw new WorkspaceError('workspace_not_found', `Workspace "${workspaceId}" does not exist.`);
    if (meta.uid !== undefined) return { uid: meta.uid, gid: meta.uid };
    const uid = (await this.allocateUid(workspaceId))!;
    await this.prepareDirs(workspaceId, undefined);
    const dirs = [this.rootOf(workspaceId), this.homeOf(workspaceId)];
    await execFileAsync('chown', ['-R', '-P', `${uid}:${uid}`, ...dirs]);
    await this.writeMeta({ ...meta, uid });
    return { uid, gid: uid };
  }

  private async require(workspaceId: string): Promise<WorkspaceInfo> {
    const info = await this.get(workspaceId);
    if (!info) throw new WorkspaceError('workspace_not_found', `Workspace "${workspaceId}" does not exist.`);
    return info;
  }

  private rootOf(id: string): string {
    return path.join(this.options.baseDir, id);
  }

  private homeOf(id: string): string {
    return path.join(this.options.baseDir, '.chatd', 'home', id);
  }

  private metaOf(id: string): string {
    return path.join(this.options.baseDir, '.chatd', 'meta', `${id}.json`);
  }

  private async readMeta(workspaceId: string): Promise<WorkspaceMeta | null> {
    if (!ID_PATTERN.test(workspaceId)) return null;
    try {
      return JSON.parse(await readFile(this.metaOf(workspaceId), 'utf8')) as WorkspaceMeta;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
  }

  /** Writes a new status, keeping the uid. */
  private async updateMeta(info: WorkspaceInfo): Promise<void> {
    const meta = await this.readMeta(info.id);
    await this.writeMeta({ ...info, uid: meta?.uid });
  }

  private async writeMeta(meta: WorkspaceMeta): Promise<void> {
    const file = this.metaOf(meta.id);
    await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
    const temp = `${file}.${randomBytes(4).toString('hex')}.tmp`;
    await writeFile(temp, JSON.stringify(meta), { mode: 0o600 });
    await rename(temp, file);
  }
}

function publicTemplate(template: LocalTemplate): WorkspaceTemplate {
  const { id, name, displayName, description, parameters } = template;
  return { id, name, displayName, description, parameters };
}

/** Checks the given values against the template: unknown names, missing required ones, types. */
function resolveParameters(template: LocalTemplate, given: Record<string, string>): Record<string, string> {
  const problems: string[] = [];
  const known = new Set(template.parameters.map((p) => p.name));
  for (const name of Object.keys(given)) if (!known.has(name)) problems.push(`unknown parameter "${name}"`);
  const values: Record<string, string> = {};
  for (const param of template.parameters) {
    const value = given[param.name] ?? param.default;
    if (value === undefined) {
      if (param.required) problems.push(`missing required parameter "${param.name}"`);
      continue;
    }
    if (param.type === 'number' && !Number.isFinite(Number(value))) problems.push(`"${param.name}" must be a number`);
    if (param.type === 'boolean' && value !== 'true' && value !== 'false') {
      problems.push(`"${param.name}" must be true or false`);
    }
    values[param.name] = value;
  }
  if (problems.length > 0) {
    throw new WorkspaceError(
      'invalid_parameters',
      `Invalid parameters for template "${template.id}": ${problems.join('; ')}.`,
    );
  }
  return values;
}
