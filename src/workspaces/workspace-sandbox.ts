/**
 * The sandbox of one workspace: its holder process (owner of the workspace's network namespace, and the
 * egress bridge when the template allows egress), the egress proxy the bridge reaches, and the launch of
 * each command into that namespace. The holder starts with the first command and stops with the
 * workspace (or when it has been idle); a holder that died is replaced on the next command. Where the
 * worker manages cgroups, the holder and every command run in the workspace's cgroup (cgroups.ts), which is
 * created before the first launch and removed when the workspace stops.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chown } from 'node:fs/promises';
import { WorkspaceError } from './errors';
import { startEgressProxy, type EgressProxy, type EgressProxyOptions } from './egress/proxy';
import { bridgeArgv, egressEnv } from './egress/bridge';
import { describeEgressPolicy, type EgressPolicy } from './egress/policy';
import type { CgroupBackend, CgroupEvents, WorkspaceCgroup } from './cgroups';
import { signalGroup } from './process-group';
import {
  buildCommandLaunch,
  buildHolderArgs,
  buildHolderLaunch,
  type LaunchSpec,
  type SandboxLimits,
  type SandboxTools,
} from './sandbox';
import type { SandboxReport, WorkspaceLimitHit } from './types';

/** How long a holder may take to report its pid. */
const HOLDER_START_MS = 5_000;

export interface WorkspaceSandboxSettings {
  workspaceId: string;
  /** Real path of the workspace root and of its home (bound read-write). */
  root: string;
  home: string;
  /** Host uid and gid the sandbox runs as; undefined: the worker's own. */
  uid?: number;
  gid?: number;
  tools: SandboxTools;
  limits: SandboxLimits;
  /** Where the workspace's cgroup goes (root workers only); null: rlimits only. */
  cgroups: CgroupBackend | null;
  readOnlyPaths: readonly string[];
  egress: EgressPolicy;
  /** Where this workspace's egress proxy socket goes (a short path: Unix socket names are limited). */
  egressSocket: string;
  /** Test hooks of the egress proxy (name resolution, address check); production uses the defaults. */
  egressHooks?: Pick<EgressProxyOptions, 'lookup' | 'isPermittedAddress'>;
  log?: { info(obj: object, msg: string): void; warn(obj: object, msg: string): void };
}

interface Holder {
  child: ChildProcess;
  pid: number;
  proxy: EgressProxy | null;
}

/** Holder and launches of one workspace's sandbox. */
export class WorkspaceSandbox {
  private holder: Promise<Holder> | null = null;
  private cgroup: WorkspaceCgroup | null = null;

  constructor(private readonly settings: WorkspaceSandboxSettings) {}

  /** Environment variables commands need for the network policy (the proxy, when egress is allowed). */
  get env(): Record<string, string> {
    return this.settings.egress.mode === 'none' ? {} : egressEnv();
  }

  /** What the tool result reports as enforced. */
  describe(): SandboxReport {
    const { limits, cgroups, egress } = this.settings;
    return {
      network: describeEgressPolicy(egress),
      limits: {
        processes: limits.processes,
        memoryMb: limits.memoryMb,
        fileSizeMb: limits.fileSizeMb,
        cpuSeconds: limits.cpuSeconds,
        openFiles: limits.openFiles,
        tmpMb: limits.tmpMb,
      },
      cgroup: this.cgroupsActive
        ? {
            version: cgroups!.version,
            memoryMb: limits.workspaceMemoryMb,
            processes: limits.processes,
            cpus: limits.cpus,
          }
        : null,
    };
  }

  /** The launch of `command` in directory `cwd` (a real path inside the root). */
  async launch(command: string, cwd: string, shell: string): Promise<LaunchSpec> {
    const { settings } = this;
    const cgroup = await this.cgroupReady();
    const holder = settings.uid === undefined ? null : await this.ensureHolder();
    return buildCommandLaunch({
      root: settings.root,
      home: settings.home,
      cwd,
      shell,
      command,
      readOnlyPaths: settings.readOnlyPaths,
      limits: settings.limits,
      shared: holder ? { holderPid: holder.pid, uid: settings.uid! } : null,
      tools: settings.tools,
      // On root workers the launch drops to the workspace's uid itself, after joining the cgroup and the
      // holder's network.
      cgroupProcs: cgroup?.procsFiles,
    });
  }

  /** The workspace's limit-hit counters now; null without a cgroup. Compare two with `limitHits`. */
  async limitEvents(): Promise<CgroupEvents | null> {
    return this.cgroupsActive && this.cgroup ? this.cgroup.events() : null;
  }

  /**
   * Stops the holder (and the proxy) and removes the workspace's cgroup; the next launch starts anew. The
   * caller has stopped the workspace's commands first.
   */
  async stop(): Promise<void> {
    await this.stopHolder();
    const { cgroups, workspaceId, log } = this.settings;
    this.cgroup = null;
    if (!this.cgroupsActive) return;
    const removed = await cgroups!
      .cgroupOf(workspaceId)
      .remove()
      .catch(() => false);
    if (!removed) log?.warn({ workspaceId }, "could not remove the workspace's cgroup: processes are still in it");
  }

  /** Cgroups need the launch to start as root (it drops to the workspace's uid after joining). */
  private get cgroupsActive(): boolean {
    return this.settings.cgroups !== null && this.settings.uid !== undefined;
  }

  /** The workspace's cgroup, created (again, if something removed it) with its limits; null without one. */
  private async cgroupReady(): Promise<WorkspaceCgroup | null> {
    if (!this.cgroupsActive) return null;
    if (this.cgroup && (await this.cgroup.exists())) return this.cgroup;
    const { cgroups, workspaceId, limits } = this.settings;
    try {
      this.cgroup = await cgroups!.ensure(workspaceId, {
        memoryMb: limits.workspaceMemoryMb,
        processes: limits.processes,
        cpus: limits.cpus,
      });
    } catch (err) {
      throw new WorkspaceError(
        'sandbox_unavailable',
        `The workspace's cgroup could not be set up (${(err as Error).message}). An operator must check the ` +
          "workspace host's cgroups or set CHATD_WORKSPACE_CGROUP=off.",
      );
    }
    return this.cgroup;
  }

  private async stopHolder(): Promise<void> {
    const holder = this.holder;
    this.holder = null;
    if (!holder) return;
    const started = await holder.catch(() => null);
    if (!started) return;
    signalGroup(started.child.pid!, 'SIGKILL');
    await started.proxy?.close();
  }

  private async ensureHolder(): Promise<Holder> {
    const current = this.holder ? await this.holder.catch(() => null) : null;
    if (current && current.child.exitCode === null && current.child.signalCode === null) return current;
    if (current) await this.stopHolder();
    const starting = this.startHolder();
    this.holder = starting;
    starting.catch(() => {
      if (this.holder === starting) this.holder = null;
    });
    return starting;
  }

  private async startHolder(): Promise<Holder> {
    const { settings } = this;
    const { uid } = settings;
    if (uid === undefined) throw new Error('a holder runs on root workers only');
    let proxy: EgressProxy | null = null;
    // The holder lives as long as its stdin pipe: when the worker dies, `cat` reads EOF and the holder
    // (and with it the bridge) goes, instead of outliving the worker.
    let command = ['cat'];
    if (settings.egress.mode !== 'none') {
      if (settings.uid === undefined) {
        throw new WorkspaceError(
          'sandbox_unavailable',
          "This workspace's template allows network egress, which needs a workspace host running as root " +
            '(each workspace then gets its own uid and network namespace). An operator must change that.',
        );
      }
      if (!settings.tools.socat) {
        throw new WorkspaceError(
          'sandbox_unavailable',
          "This workspace's template allows network egress, which needs socat on the workspace host. " +
            'An operator must install it (Debian: apt-get install socat) and restart the worker.',
        );
      }
      proxy = await startEgressProxy({
        ...settings.egressHooks,
        socketPath: settings.egressSocket,
        policy: settings.egress,
        log: settings.log,
      });
      await chown(settings.egressSocket, settings.uid, settings.gid ?? settings.uid);
      command = ['/bin/sh', '-c', '"$@" & exec cat', 'sh', ...bridgeArgv(settings.tools.socat)];
    }
    const args = buildHolderArgs({
      readOnlyPaths: settings.readOnlyPaths,
      egressSocket: proxy ? settings.egressSocket : undefined,
      command,
    });
    // The launch joins the cgroup while still root, then drops to the workspace's uid.
    const cgroup = await this.cgroupReady();
    const launch = buildHolderLaunch(settings.tools, uid, args, cgroup?.procsFiles);
    const child = spawn(launch.file, launch.args, {
      detached: true,
      env: {},
      stdio: ['pipe', 'ignore', 'pipe', 'pipe'],
    });
    try {
      const pid = await childPid(child);
      return { child, pid, proxy };
    } catch (err) {
      if (child.pid !== undefined) signalGroup(child.pid, 'SIGKILL');
      await proxy?.close();
      throw err;
    }
  }
}

/** The per-workspace limits hit between two readings of the counters. */
export function limitHits(before: CgroupEvents | null, after: CgroupEvents | null): WorkspaceLimitHit[] {
  if (!before || !after) return [];
  const hits: WorkspaceLimitHit[] = [];
  // A counter below its baseline means the cgroup was made anew meanwhile: everything counted is new.
  const grew = (a: number, b: number): boolean => b > a || (b < a && b > 0);
  if (grew(before.oomKills, after.oomKills)) hits.push('memory');
  if (grew(before.pidsMax, after.pidsMax)) hits.push('processes');
  return hits;
}

/** Reads bubblewrap's `--info-fd` report ({"child-pid": N}) from the holder's fd 3. */
function childPid(child: ChildProcess): Promise<number> {
  return new Promise((resolve, reject) => {
    let info = '';
    let stderr = '';
    const timer = setTimeout(() => fail('it did not start in time'), HOLDER_START_MS);
    const fail = (why: string): void => {
      clearTimeout(timer);
      reject(
        new WorkspaceError(
          'sandbox_unavailable',
          `The workspace sandbox could not start (${why}${stderr ? `: ${stderr.trim().slice(0, 500)}` : ''}).`,
        ),
      );
    };
    child.stderr?.on('data', (chunk: Buffer) => {
      if (stderr.length < 2_000) stderr += chunk.toString();
    });
    child.once('error', (err) => fail(err.message));
    child.once('exit', (code) => fail(`it exited with ${code}`));
    (child.stdio[3] as NodeJS.ReadableStream).on('data', (chunk: Buffer) => {
      info += chunk.toString();
      const match = /"child-pid"\s*:\s*(\d+)/.exec(info);
      if (match) {
        clearTimeout(timer);
        child.removeAllListeners('exit');
        resolve(Number(match[1]));
      }
    });
  });
}
