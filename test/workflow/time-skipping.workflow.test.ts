/**
 * The test infrastructure itself: the time-skipping server (Java, from Maven Central, resolved by
 * global setup) makes a one-hour durable timer complete in well under a second of wall time.
 * Every other workflow test relies on this.
 */
import { randomUUID } from 'node:crypto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { createTimeSkippingEnv } from '../support/temporal';
import { durableTimerWorkflow } from './fixtures/durable-timer.workflow';

describe('time-skipping test server', () => {
  let env: TestWorkflowEnvironment;

  beforeAll(async () => {
    env = await createTimeSkippingEnv();
  });
  afterAll(async () => {
    await env?.teardown();
  });

  it('completes a one-hour durable timer without waiting an hour', async () => {
    const taskQueue = `timer-${randomUUID()}`;
    const worker = await Worker.create({
      connection: env.nativeConnection,
      taskQueue,
      workflowsPath: require.resolve('./fixtures/durable-timer.workflow'),
    });
    const startedAt = Date.now();
    const [result, skipped] = await worker.runUntil(async () => {
      const before = await env.currentTimeMs();
      const result = await env.client.workflow.execute(durableTimerWorkflow, {
        args: ['1 hour'],
        workflowId: `timer-${randomUUID()}`,
        taskQueue,
      });
      return [result, (await env.currentTimeMs()) - before] as const;
    });
    const wallMs = Date.now() - startedAt;
    expect(result).toBe('woke');
    expect(skipped).toBeGreaterThanOrEqual(60 * 60 * 1000);
    // Proof that time was skipped, not a speed target: a real hour cannot pass inside this bound.
    expect(wallMs).toBeLessThan(30_000);
  });
});
