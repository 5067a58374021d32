/**
 * Starts what the stack-backed test tiers share: one PostgreSQL (embedded, unless
 * CHATD_TEST_DATABASE_URL is given) and one Temporal dev server (unless TEMPORAL_ADDRESS is given),
 * and resolves the time-skipping test server. Tests get them through environment variables; each test
 * file then creates its own database and task queues. Never downloads: the binaries come from the
 * project cache, the environment, or a local build (src/infra/temporal-binaries.ts).
 *
 * Each of those tiers names this file as its globalSetup in jest.config.ts (the unit tier does not), so
 * a run of several tiers may call it more than once: the first call starts the stack and every later
 * call waits for the same start. global-teardown.ts stops it once, after the last tier.
 */
import { chmodSync, mkdtempSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startEmbeddedPostgres } from '../../src/infra/embedded-postgres';
import { resolveTemporalCli, resolveTemporalTestServer } from '../../src/infra/temporal-binaries';
import { startTemporalDevServer } from '../../src/infra/temporal-dev-server';

/** The run's stack. Global setup and teardown run in Jest's parent process, so globalThis is shared. */
export interface TestStack {
  /** Settles when the stack is up (or failed to start). */
  ready: Promise<void>;
  /** Undo actions, in start order: stop a server, restore an environment variable. */
  stops: Array<() => Promise<void>>;
}

/** The stack of the current run, if a global setup started one. */
export function currentTestStack(): TestStack | undefined {
  return (globalThis as { __chatdTestStack?: TestStack }).__chatdTestStack;
}

/** Forgets the current run's stack, so a later run (watch mode) starts its own. */
export function forgetTestStack(): void {
  delete (globalThis as { __chatdTestStack?: TestStack }).__chatdTestStack;
}

/** Sets an environment variable for the run; the teardown restores its previous value. */
function setEnv(stops: TestStack['stops'], name: string, value: string): void {
  const previous = process.env[name];
  process.env[name] = value;
  stops.push(async () => {
    if (previous === undefined) delete process.env[name];
    else process.env[name] = previous;
  });
}

async function startStack(stops: TestStack['stops']): Promise<void> {
  // A log line per start, so a run's output shows whether (and how often) the stack was started.
  const say = (line: string): void => void process.stderr.write(`chatd test stack: ${line}\n`);
  say('setting up');
  const testServer = resolveTemporalTestServer(process.env);
  if (!testServer) {
    throw new Error('No Temporal time-skipping test server: install Java and Maven, or set TEMPORAL_TEST_SERVER_PATH.');
  }
  setEnv(stops, 'TEMPORAL_TEST_SERVER_PATH', testServer.path);

  if (!process.env.CHATD_TEST_DATABASE_URL) {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'chatd-test-pg-'));
    // As root the server runs as the postgres user, which must be able to reach its data directory.
    chmodSync(dir, 0o755);
    say('starting PostgreSQL');
    const pg = await startEmbeddedPostgres({ dataDir: path.join(dir, 'data'), database: 'chatd_test' });
    stops.push(() => pg.stop());
    // The superuser: test files create and drop a database each (chatd's own role cannot). The
    // application role is covered by test/activities/embedded-postgres.activity.test.ts.
    setEnv(stops, 'CHATD_TEST_DATABASE_URL', pg.adminUrl);
  }

  if (!process.env.TEMPORAL_ADDRESS) {
    const cli = resolveTemporalCli(process.env);
    if (!cli)
      throw new Error('No Temporal CLI: install Go (it is built from the module proxy), or set TEMPORAL_CLI_PATH.');
    setEnv(stops, 'TEMPORAL_CLI_PATH', cli.path);
    say('starting the Temporal dev server');
    const server = await startTemporalDevServer({
      binary: cli,
      // Low thresholds let tests exercise continue-as-new without thousands of events.
      extraArgs: ['--dynamic-config-value', 'limit.historyCount.suggestContinueAsNew=400'],
    });
    stops.push(() => server.stop());
    setEnv(stops, 'TEMPORAL_ADDRESS', server.address);
  }
}

/** Undoes `stops`, newest first, ignoring failures (a server that already exited is fine). */
export async function runStops(stops: TestStack['stops']): Promise<void> {
  for (const stop of stops.splice(0).reverse()) await stop().catch(() => undefined);
}

/**
 * Starts the stack once per Jest run; later calls return the first call's promise. Jest runs no
 * teardown when a global setup throws, so a failed start stops whatever it had started (and is
 * forgotten, so the next run tries again) before rethrowing.
 */
export default function globalSetup(): Promise<void> {
  const existing = currentTestStack();
  if (existing) return existing.ready;
  const stack: TestStack = { ready: Promise.resolve(), stops: [] };
  stack.ready = startStack(stack.stops).catch(async (err: unknown) => {
    await runStops(stack.stops);
    forgetTestStack();
    throw err;
  });
  (globalThis as { __chatdTestStack?: TestStack }).__chatdTestStack = stack;
  return stack.ready;
}
