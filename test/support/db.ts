/**
 * A fresh database per test file, migrated with the real migrations, on the run's shared
 * PostgreSQL. Dropped at the end so repeated runs do not accumulate databases.
 */
import { randomBytes } from 'node:crypto';
import { Client, Pool } from 'pg';
import { Kysely, PostgresDialect } from 'kysely';
import { createDb } from '../../src/db/create-db';
import type { ChatModelConfigRow, Database } from '../../src/db/database';
import { insertModelConfig, insertProvider } from '../../src/db/repositories/model-configs.repository';
import { migrateToLatest } from '../../src/db/migrator';
import { sealProviderKey } from '../../src/security/provider-keys';
import type { SecretBox } from '../../src/security/secrets';

export interface TestDatabase {
  url: string;
  db: Kysely<Database>;
  drop(): Promise<void>;
}

function adminUrl(): string {
  const url = process.env.CHATD_TEST_DATABASE_URL;
  if (!url) throw new Error('CHATD_TEST_DATABASE_URL is not set: run tests through jest (global setup).');
  return url;
}

export async function createTestDatabase(): Promise<TestDatabase> {
  const name = `chatd_t_${process.env.JEST_WORKER_ID ?? '0'}_${randomBytes(4).toString('hex')}`;
  const admin = new Client({ connectionString: adminUrl() });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(adminUrl());
  url.pathname = `/${name}`;
  const db = createDb({ url: url.toString(), poolSize: 5, applicationName: 'chatd-test' });
  await migrateToLatest(db);
  return {
    url: url.toString(),
    db,
    async drop() {
      await db.destroy();
      const c = new Client({ connectionString: adminUrl() });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}

/** A provider that is never called and a default model config on it: enough for turn rows to point at. */
export async function insertUnusedModelConfig(db: Kysely<Database>): Promise<ChatModelConfigRow> {
  const provider = await insertProvider(db, {
    provider: 'openai',
    displayName: 'fake',
    baseUrl: 'http://127.0.0.1:9',
    apiMode: null,
    apiKey: null,
    createdBy: null,
  });
  return insertModelConfig(db, {
    providerId: provider.id,
    model: 'fake-model',
    displayName: 'fake',
    isDefault: true,
    contextLimit: 1000,
    compressionThreshold: 70,
    options: {},
    createdBy: null,
  });
}

/** An OpenAI-compatible chat provider at `baseUrl` (the fake) with a sealed test key; its id. */
export async function insertFakeProvider(db: Kysely<Database>, secrets: SecretBox, baseUrl: string): Promise<string> {
  const sealed = sealProviderKey(secrets, 'sk-test', baseUrl);
  const provider = await db
    .insertInto('chat_providers')
    .values({
      provider: 'openai',
      base_url: baseUrl,
      api_mode: 'chat',
      api_key_ciphertext: sealed.ciphertext,
      api_key_key_id: sealed.keyId,
      api_key_base_url: sealed.baseUrl,
      created_by: null,
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  return provider.id;
}

/** Model `fake-model` (100,000 tokens of context) on a new insertFakeProvider: the model config's id. */
export async function insertFakeModelConfig(
  db: Kysely<Database>,
  secrets: SecretBox,
  baseUrl: string,
): Promise<string> {
  const config = await db
    .insertInto('chat_model_configs')
    .values({
      provider_id: await insertFakeProvider(db, secrets, baseUrl),
      model: 'fake-model',
      context_limit: 100_000,
      options: '{}',
      created_by: null,
      updated_by: null,
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  return config.id;
}

/**
 * A second pool of `max` connections on the test database whose statements are passed to `onQuery`.
 * destroy() does not wait for its connections to close: the forced DROP DATABASE may cut them after.
 */
export function recordingDb(database: TestDatabase, max: number, onQuery: (sql: string) => void): Kysely<Database> {
  const pool = new Pool({ connectionString: database.url, max });
  pool.on('error', () => undefined);
  return new Kysely<Database>({
    dialect: new PostgresDialect({ pool }),
    log: (event) => {
      if (event.level === 'query') onQuery(event.query.sql);
    },
  });
}
