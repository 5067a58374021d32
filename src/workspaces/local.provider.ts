/**
 * The built-in `local` workspace provider: each workspace is a directory `<baseDir>/<id>` on the worker
 * host, with its metadata and HOME kept apart under `<baseDir>/.chatd/`. Commands are sandboxed with
 * bubblewrap when it is usable. Processes live in this instance, so a chat's background processes are
 * visible only on the worker that started them (route a chat's tool activities to one host).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, realpath, rename, rm, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { WorkspaceError } from './errors';
import { LocalWorkspace } from './local-workspace';
import { DEFAULT_PATH, detectBwrap } from './sandbox';
import type { CreateWorkspaceRequest, WorkspaceInfo, WorkspaceProvider, WorkspaceTemplate } from './types';

/** A template of the local provider: files to write and a setup command to run at creation. */
export interface LocalTemplate extends WorkspaceTemplate {
  /** Relative path → content, written into the new workspace. */
  files?: Record<string, string>;
  /** Run in the new workspace after the files; parameters arrive as `CHATD_PARAM_<NAME>` variables. */
  setupCommand?: string;
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
  /** `auto` (default) uses bwrap when it is on PATH and works; `bwrap` requires it; `none` never uses it. */
  sandbox?: 'auto' | 'bwrap' | 'none';
  /** Base environment of commands (PATH, LANG, proxies…). The worker's own environment is never passed. */
  env?: Record<string, string>;
  /** Shell running commands; `/bin/bash` when present, else `/bin/sh`. */
  shell?: string;
  /** Whether sandboxed commands reach the network. Default true. */
  network?: boolean;
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
  /** Finds bwrap (injectable for tests); defaults to `detectBwrap`. */
  detectSandbox?: (pathEnv: string) => Promise<string | null>;
}

const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/;

/** The `local` `WorkspaceProvider`. Call `dispose()` on shutdown to stop every process it started. */
export class LocalWorkspaceProvider implements WorkspaceProvider {
  readonly kind = 'local';
  private readonly templates: LocalTemplate[];
  private readonly workspaces = new Map<string, LocalWorkspace>();
  private sandboxPath: Promise<string | null> | undefined;

  constructor(private readonly options: LocalProviderOptions) {
    this.templates = options.templates ?? [EMPTY_TEMPLATE];
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
      await this.writeMeta(info);
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
    if (!ID_PATTERN.test(workspaceId)) return null;
    try {
      return JSON.parse(await readFile(this.metaOf(workspaceId), 'utf8')) as WorkspaceInfo;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
  }

  async start(workspaceId: string): Promise<WorkspaceInfo> {
    const info = await this.require(workspaceId);
    if (info.status === 'deleted') {
      throw new WorkspaceError('deleted', 'The workspace was deleted; create a new one with create_workspace.');
    }
    if (info.status === 'running') return info;
    const started: WorkspaceInfo = { ...info, status: 'running' };
    await this.writeMeta(started);
    return started;
  }

  async stop(workspaceId: string): Promise<WorkspaceInfo> {
    const info = await this.require(workspaceId);
    await this.workspaces.get(workspaceId)?.killProcesses();
    if (info.status !== 'running') return info;
    const stopped: WorkspaceInfo = { ...info, status: 'stopped' };
    await this.writeMeta(stopped);
    return stopped;
  }

  async delete(workspaceId: string): Promise<WorkspaceInfo> {
    const info = await this.stop(workspaceId);
    this.workspaces.delete(workspaceId);
    await rm(this.rootOf(workspaceId), { recursive: true, force: true });
    await rm(this.homeOf(workspaceId), { recursive: true, force: true });
    const deleted: WorkspaceInfo = { ...info, status: 'deleted' };
    await this.writeMeta(deleted);
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
    const root = this.rootOf(workspaceId);
    const workspace = new LocalWorkspace({
      id: workspaceId,
      root,
      realRoot: await realpath(root),
      home: this.homeOf(workspaceId),
      shell: this.options.shell ?? (existsSync('/bin/bash') ? '/bin/bash' : '/bin/sh'),
      env: this.options.env ?? {},
      sandbox: () => this.sandbox(),
      network: this.options.network ?? true,
      readOnlyPaths: this.options.readOnlyPaths ?? [],
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
    await Promise.all([...this.workspaces.values()].map((w) => w.killProcesses()));
  }

  /** The bwrap binary commands run under, or null for plain spawning; detected once per instance. */
  sandbox(): Promise<string | null> {
    this.sandboxPath ??= this.resolveSandbox();
    return this.sandboxPath;
  }

  private async resolveSandbox(): Promise<string | null> {
    const mode = this.options.sandbox ?? 'auto';
    if (mode === 'none') return null;
    const found = await (this.options.detectSandbox ?? detectBwrap)(this.options.env?.PATH ?? DEFAULT_PATH);
    if (!found && mode === 'bwrap') {
      throw new Error('Workspace sandbox "bwrap" was required but bubblewrap is not installed or not usable.');
    }
    return found;
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

  private async writeMeta(info: WorkspaceInfo): Promise<void> {
    const file = this.metaOf(info.id);
    await mkdir(path.dirname(file), { recursive: true });
    const temp = `${file}.${randomBytes(4).toString('hex')}.tmp`;
    await writeFile(temp, JSON.stringify(info));
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
