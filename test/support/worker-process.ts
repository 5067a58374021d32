/**
 * A chatd worker in its own OS process, for tests that kill it with SIGKILL: a crash, not a
 * shutdown, so nothing runs on the way out. Started by startWorkerProcess() (app.ts) with
 * `node --import tsx`; prints `ready` once it polls the task queue.
 * Arguments: <database url> <temporal address> <task queue> <encryption keys> <workflow bundle path>
 * [<JSON object of extra config variables, e.g. CHATD_WORKSPACE_HOST_ID and CHATD_DATA_DIR>].
 */
import { DefaultLogger, Runtime, makeTelemetryFilterString } from '@temporalio/worker';
import { createDeps } from '../../src/main/deps';
import { createLogger } from '../../src/log';
import { startWorker } from '../../src/main/processes';
import { PgStreamBus } from '../../src/stream/pg-stream-bus';
import { testConfig } from './config';

async function main(): Promise<void> {
  const [databaseUrl, temporalAddress, taskQueue, encryptionKeys, codePath, env] = process.argv.slice(2) as [
    string,
    string,
    string,
    string,
    string,
    string | undefined,
  ];
  Runtime.install({
    logger: new DefaultLogger('ERROR'),
    telemetryOptions: { logging: { filter: makeTelemetryFilterString({ core: 'ERROR' }), forward: {} } },
  });
  const log = createLogger('silent', 'test-worker');
  const deps = await createDeps(
    testConfig({ CHATD_TASK_QUEUE: taskQueue, ...(env ? (JSON.parse(env) as Record<string, string>) : {}) }),
    log,
    { databaseUrl, temporalAddress, encryptionKeys, bus: new PgStreamBus(databaseUrl, log) },
    'worker',
  );
  await startWorker(deps, temporalAddress, { codePath });
  process.stdout.write('ready\n');
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
