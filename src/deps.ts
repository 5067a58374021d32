/**
 * createDeps(config): everything a chatd process needs, built once in src/main/* and injected
 * everywhere else (no module singletons): the database, the stream bus, the secret box, the
 * Temporal client, the model resolver and the logger. `close()` releases them in order.
 */
import { Client, Connection } from '@temporalio/client';
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import { ModelResolver } from './chat/models';
import type { TurnDeps } from './chat/turn-runner';
import type { Config } from './config';
import { createDb } from './db/create-db';
import type { Database } from './db/database';
import { userAgentFor } from './llm/registry';
import { SecretBox } from './security/secrets';
import type { StreamBus } from './stream/bus';
import { MemoryStreamBus } from './stream/memory-stream-bus';
import { TemporalTurnLauncher, type TurnLauncher } from './temporal/turns';
import { VERSION } from './version';

export interface Deps extends TurnDeps {
  config: Config;
  db: Kysely<Database>;
  bus: StreamBus;
  secrets: SecretBox;
  log: Logger;
  temporal: { connection: Connection; client: Client };
  turns: TurnLauncher;
  close(): Promise<void>;
}

export interface DepsOverrides {
  databaseUrl: string;
  temporalAddress: string;
  encryptionKeys: string;
  bus?: StreamBus;
}

export async function createDeps(config: Config, log: Logger, resolved: DepsOverrides, role: string): Promise<Deps> {
  const db = createDb({ url: resolved.databaseUrl, poolSize: config.dbPoolSize, applicationName: `chatd-${role}` });
  const bus = resolved.bus ?? new MemoryStreamBus();
  const secrets = new SecretBox(resolved.encryptionKeys);
  const connection = await Connection.connect({ address: resolved.temporalAddress });
  const client = new Client({ connection, namespace: config.temporal.namespace });
  const models = new ModelResolver(db, secrets, config.presets, userAgentFor(VERSION));
  return {
    config,
    db,
    bus,
    secrets,
    log,
    models,
    maxSteps: config.maxSteps,
    temporal: { connection, client },
    turns: new TemporalTurnLauncher(client, config.temporal.taskQueue),
    async close() {
      await bus.close();
      await connection.close();
      await db.destroy();
    },
  };
}
