/**
 * The embedded Temporal: the Temporal CLI's dev server (SQLite file, Web UI), with chatd's search
 * attributes registered. Started through @temporalio/testing's ephemeral-server support, which
 * owns spawning, readiness and teardown; without a local binary it uses the SDK's download.
 */
import { TestWorkflowEnvironment } from '@temporalio/testing';
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
  return {
    address: env.address,
    uiUrl: options.ui ? `http://127.0.0.1:${options.uiPort ?? 8233}` : null,
    stop: () => env.teardown(),
  };
}
