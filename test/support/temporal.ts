/**
 * Temporal for tests: the run's shared dev server (TEMPORAL_ADDRESS, from global setup), the
 * time-skipping test server for workflow tests, and one workflow bundle per test file.
 * Never triggers a download.
 */
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { TestWorkflowEnvironment, workflowInterceptorModules } from '@temporalio/testing';
import {
  bundleWorkflowCode,
  DefaultLogger,
  makeTelemetryFilterString,
  Runtime,
  type WorkflowBundleWithSourceMap,
} from '@temporalio/worker';
import { workflowsPath } from '../../src/temporal/create-worker';
import { TRACING_WORKFLOW_MODULES } from '../../src/tracing/temporal';

let installed = false;
function installRuntime(): void {
  if (installed) return;
  installed = true;
  try {
    // Tests provoke failures on purpose: only errors are worth printing.
    Runtime.install({
      logger: new DefaultLogger('ERROR'),
      telemetryOptions: { logging: { filter: makeTelemetryFilterString({ core: 'ERROR' }), forward: {} } },
    });
  } catch {
    // Already installed by an earlier test file in this worker process.
  }
}

let bundle: Promise<WorkflowBundleWithSourceMap> | undefined;
/** chatd's workflows bundled once per test file, with the assert-to-failure interceptor. */
export function getWorkflowBundle(): Promise<WorkflowBundleWithSourceMap> {
  installRuntime();
  bundle ??= bundleWorkflowCode({
    workflowsPath,
    workflowInterceptorModules: [...workflowInterceptorModules],
    logger: new DefaultLogger('WARN'),
  });
  return bundle;
}

let tracedBundle: Promise<WorkflowBundleWithSourceMap> | undefined;
/** The same, with tracing's workflow interceptor module, as a traced worker bundles them (README "Traces"). */
export function getTracedWorkflowBundle(): Promise<WorkflowBundleWithSourceMap> {
  installRuntime();
  tracedBundle ??= bundleWorkflowCode({
    workflowsPath,
    workflowInterceptorModules: [...workflowInterceptorModules, ...TRACING_WORKFLOW_MODULES],
    logger: new DefaultLogger('WARN'),
  });
  return tracedBundle;
}

export function temporalAddress(): string {
  const address = process.env.TEMPORAL_ADDRESS;
  if (!address) throw new Error('TEMPORAL_ADDRESS is not set: run tests through jest (global setup).');
  return address;
}

/** A time-skipping environment on the Java test server resolved by global setup. */
export async function createTimeSkippingEnv(): Promise<TestWorkflowEnvironment> {
  installRuntime();
  const path = process.env.TEMPORAL_TEST_SERVER_PATH;
  if (!path) throw new Error('TEMPORAL_TEST_SERVER_PATH is not set: run tests through jest (global setup).');
  try {
    return await TestWorkflowEnvironment.createTimeSkipping({
      server: { executable: { type: 'existing-path', path } },
    });
  } catch {
    // The SDK allows the JVM a few seconds to come up; a busy 2-core machine can miss that once.
    return TestWorkflowEnvironment.createTimeSkipping({ server: { executable: { type: 'existing-path', path } } });
  }
}

/** An environment connected to the run's shared dev server (visibility and search attributes work). */
export async function connectDevServer(): Promise<TestWorkflowEnvironment> {
  installRuntime();
  return TestWorkflowEnvironment.createFromExistingServer({ address: temporalAddress() });
}

/**
 * With CAPTURE_HISTORIES=1, writes the history of a finished e2e workflow as the replay fixture
 * test/replay/histories/<name>.json (see test/replay/replay.test.ts); otherwise does nothing.
 */
export async function captureHistory(handle: WorkflowHandle, name: string): Promise<void> {
  if (process.env.CAPTURE_HISTORIES !== '1') return;
  const history = historyToJSON(await handle.fetchHistory());
  writeFileSync(
    path.join(__dirname, '../replay/histories', `${name}.json`),
    JSON.stringify(JSON.parse(history), null, 2) + '\n',
  );
}
