/**
 * Starts what the test run shares: one PostgreSQL (embedded, unless CHATD_TEST_DATABASE_URL is
 * given) and one Temporal dev server (unless TEMPORAL_ADDRESS is given), and resolves the
 * time-skipping test server. Tests get them through environment variables; each test file then
 * creates its own database and task queues. Never downloads: see INFRA.md.
 */
import { chmodSync, mkdtempSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startEmbeddedPostgres } from '../../src/infra/embedded-postgres';
import { resolveTemporalCli, resolveTemporalTestServer } from '../../src/infra/temporal-binaries';
import { startTemporalDevServer } from '../../src/infra/temporal-dev-server';

interface Shared {
  stops: Array<() => Promise<void>>;
}

export default async function globalSetup(): Promise<void> {
  const shared: Shared = { stops: [] };
  (globalThis as { __chatdTest?: Shared }).__chatdTest = shared;

  const testServer = resolveTemporalTestServer(process.env);
  if (!testServer) {
    throw new Error('No Temporal time-skipping test server: install Java and Maven, or set TEMPORAL_TEST_SERVER_PATH.');
  }
  process.env.TEMPORAL_TEST_SERVER_PATH = testServer.path;

  if (!process.env.CHATD_TEST_DATABASE_URL) {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'chatd-test-pg-'));
    // As root the server runs as the postgres user, which must be able to reach its data directory.
    chmodSync(dir, 0o755);
    const pg = await startEmbeddedPostgres({ dataDir: path.join(dir, 'data'), database: 'chatd_test' });
    shared.stops.push(() => pg.stop());
    // The superuser: test files create and drop a database each (chatd's own role cannot). The
    // application role is covered by test/activities/embedded-postgres.activity.test.ts.
    process.env.CHATD_TEST_DATABASE_URL = pg.adminUrl;
  }

  if (!process.env.TEMPORAL_ADDRESS) {
    const cli = resolveTemporalCli(process.env);
    if (!cli)
      throw new Error('No Temporal CLI: install Go (it is built from the module proxy), or set TEMPORAL_CLI_PATH.');
    process.env.TEMPORAL_CLI_PATH = cli.path;
    const server = await startTemporalDevServer({
      binary: cli,
      // Low thresholds let tests exercise continue-as-new without thousands of events.
      extraArgs: ['--dynamic-config-value', 'limit.historyCount.suggestContinueAsNew=400'],
    });
    shared.stops.push(() => server.stop());
    process.env.TEMPORAL_ADDRESS = server.address;
  }
}
