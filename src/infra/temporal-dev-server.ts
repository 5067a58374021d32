/**
 * The embedded Temporal: the Temporal CLI's dev server (SQLite file, Web UI), with chatd's search
 * attributes registered. Started through @temporalio/testing's ephemeral-server support, which
 * owns spawning, readiness and teardown; without a local binary it uses the SDK's download.
 */
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { findProcesses, parentPid, stopProcess, type ChildReaper } from './child-reaper';
import { SEARCH_ATTRIBUTE_KEYS } from '../temporal/search-attributes';
import type { ResolvedBinary } from './temporal-binaries';

export interface DevServerHandle {
  address: string;
  uiUrl: string | null;
  stop(): Promise<void>;
}

/**
 * Dynamic config chatd runs Temporal with (deploy/temporal/dynamicconfig.yaml says the same for
 * the compose stack). `history.workflowIdReuseMinimalInterval` defaults to 1 s: a run that closes,
 * or continues as new, less than that after it started holds the next run of the same workflow id
 * back (a fresh start is refused with "Too many starts", continue-as-new is delayed). Every chat
 * turn is the next run of `chat-<chatId>`, and a quick answer followed by a queued or immediate
 * follow-up is ordinary chat traffic, so chatd turns that guard off; a turn still needs a
 * committed user message, so no workflow id can spin. Eager activity execution hands a turn's
 * first model step back with the workflow task's completion, saving a trip through matching.
 */
export const CHATD_DYNAMIC_CONFIG = [
  '--dynamic-config-value',
  'history.workflowIdReuseMinimalInterval="0s"',
  '--dynamic-config-value',
  'system.enableActivityEagerExecution=true',
];

export async function startTemporalDevServer(options: {
  binary: ResolvedBinary | null;
  dbFilename?: string;
  port?: number;
  uiPort?: number;
  ui?: boolean;
  extraArgs?: string[];
  /** Kills the server when this process dies without stopping it (`npm start`, see child-reaper.ts). */
  reaper?: ChildReaper;
}): Promise<DevServerHandle> {
  const env = await TestWorkflowEnvironment.createLocal({
    server: {
      executable: options.binary ? { type: 'existing-path', path: options.binary.path } : { type: 'cached-download' },
      ip: '127.0.0.1',
      ...(options.port !== undefined ? { port: options.port } : {}),
      ...(options.dbFilename ? { dbFilename: options.dbFilename } : {}),
      ui: options.ui ?? false,
      ...(options.ui && options.uiPort !== undefined ? { uiPort: options.uiPort } : {}),
      searchAttributes: [...SEARCH_ATTRIBUTE_KEYS],
      log: { format: 'pretty', level: 'error' },
      extraArgs: [...CHATD_DYNAMIC_CONFIG, ...(options.extraArgs ?? [])],
    },
  });
  // The SDK spawns the server and does not expose its pid: find our child serving this port (/proc).
  const port = env.address.slice(env.address.lastIndexOf(':') + 1);
  const pids = options.reaper
    ? findProcesses((args, pid) => args.includes('start-dev') && args.includes(port) && parentPid(pid) === process.pid)
    : [];
  for (const pid of pids) options.reaper!.register(pid, 'KILL');
  return {
    address: env.address,
    uiUrl: options.ui ? `http://127.0.0.1:${options.uiPort ?? 8233}` : null,
    stop: async () => {
      await env.teardown();
      for (const pid of pids) options.reaper!.unregister(pid);
    },
  };
}

/**
 * Stops a dev server an earlier, killed start left running on `dbFilename` (found by its command
 * line, Linux /proc): it would hold the port and the SQLite file. The caller makes sure no live chatd
 * uses the same data directory (data-dir-lock.ts). Returns how many it stopped.
 */
export async function stopLeftoverDevServers(dbFilename: string, notice: (line: string) => void): Promise<number> {
  const leftovers = findProcesses((args) => args.includes('start-dev') && args.includes(dbFilename));
  for (const pid of leftovers) {
    notice(`stopping a Temporal dev server (pid ${pid}) left running on ${dbFilename} by an earlier start`);
    await stopProcess(pid, 'SIGTERM', 5_000);
  }
  return leftovers.length;
}
