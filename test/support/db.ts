/**
 * A fresh database per test file, migrated with the real migrations, on the run's shared
 * PostgreSQL. Dropped at the end so repeated runs do not accumulate databases.
 */
import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import type { Kysely } from 'kysely';
import { createDb } from '../../src/db/create-db';
import type { ChatModelConfigRow, Database } from '../../src/db/database';
import { insertModelConfig, insertProvider } from '../../src/db/repositories/model-configs.repository';
import { migrateToLatest } from '../../src/db/migrator';

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
