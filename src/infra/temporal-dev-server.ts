/**
 * The embedded Temporal: the Temporal CLI's dev server (SQLite file, Web UI), with chatd's search
 * attributes registered. Started through @temporalio/testing's ephemeral-server support, which
 * owns spawning, readiness and teardown; without a local binary it uses the SDK's download.
 */
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { ChatIdKey, ChatStatusKey, ModelConfigIdKey, OwnerIdKey, RootChatIdKey } from '../temporal/search-attributes';
import type { ResolvedBinary } from './temporal-binaries';

export interface DevServerHandle {
  address: string;
  uiUrl: string | null;
  stop(): Promise<void>;
}

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
      searchAttributes: [ChatIdKey, OwnerIdKey, RootChatIdKey, ModelConfigIdKey, ChatStatusKey],
      log: { format: 'pretty', level: 'error' },
      extraArgs: options.extraArgs ?? [],
    },
  });
  return {
    address: env.address,
    uiUrl: options.ui ? `http://127.0.0.1:${options.uiPort ?? 8233}` : null,
    stop: () => env.teardown(),
  };
}
