/**
 * The sandbox of one workspace: its holder process (owner of the workspace's network namespace, and the
 * egress bridge when the template allows egress), the egress proxy the bridge reaches, and the launch of
 * each command into that namespace. The holder starts with the first command and stops with the
 * workspace (or when it has been idle); a holder that died is replaced on the next command.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chown } from 'node:fs/promises';
import { WorkspaceError } from './errors';
import { startEgressProxy, type EgressProxy, type EgressProxyOptions } from './egress/proxy';
import { bridgeArgv, egressEnv } from './egress/bridge';
import { describeEgressPolicy, type EgressPolicy } from './egress/policy';
import { signalGroup } from './process-group';
import { buildCommandArgs, buildHolderArgs, type LaunchSpec, type SandboxLimits, type SandboxTools } from './sandbox';
import type { SandboxReport } from './types';

/** How long a holder may take to report its pid. */
const HOLDER_START_MS = 5_000;

export interface WorkspaceSandboxSettings {
  /** Real path of the workspace root and of its home (bound read-write). */
  root: string;
  home: string;
  /** Host uid and gid the sandbox runs as; undefined: the worker's own. */
  uid?: number;
  gid?: number;
  tools: SandboxTools;
  limits: SandboxLimits;
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

  constructor(private readonly settings: WorkspaceSandboxSettings) {}

  /** Environment variables commands need for the network policy (the proxy, when egress is allowed). */
  get env(): Record<string, string> {
    return this.settings.egress.mode === 'none' ? {} : egressEnv();
  }

  /** What the tool result reports as enforced. */
  describe(): SandboxReport {
    return { network: describeEgressPolicy(this.settings.egress), limits: this.settings.limits };
  }

  /** The launch of `command` in directory `cwd` (a real path inside the root). */
  async launch(command: string, cwd: string, shell: string): Promise<LaunchSpec> {
    const { settings } = this;
    const holder = settings.uid === undefined ? null : await this.ensureHolder();
    const args = buildCommandArgs({
      root: settings.root,
      home: settings.home,
      cwd,
      shell,
      command,
      readOnlyPaths: settings.readOnlyPaths,
      limits: settings.limits,
      shared: holder ? { holderPid: holder.pid, uid: settings.uid! } : null,
      tools: settings.tools,
    });
    // On root workers the launch drops to the workspace's uid itself, after joining the holder's network.
    return { file: settings.tools.prlimit, args };
  }

  /** Stops the holder (and the proxy); the next launch starts a new one. */
  async stop(): Promise<void> {
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
    if (current) await this.stop();
    const starting = this.startHolder();
    this.holder = starting;
    starting.catch(() => {
      if (this.holder === starting) this.holder = null;
    });
    return starting;
  }

  private async startHolder(): Promise<Holder> {
    const { settings } = this;
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
    const child = spawn(settings.tools.bwrap, args, {
      uid: settings.uid,
      gid: settings.gid,
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
