/**
 * Long turns roll over to a fresh history: when Temporal suggests continue-as-new (the test dev
 * server lowers the threshold to 400 events, see test/support/global-setup.ts), chatWorkflow
 * continues as the same turn from the next step, so no step is run twice or skipped.
 */
import { randomUUID } from 'node:crypto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { chatWorkflow } from '../../workflows';
import { mockActivities, okStep, turnOptions, withWorker } from '../support/chat-workflow';
import { connectDevServer } from '../support/temporal';
import type { StepInput } from '../../src/turn/deps';

describe('chatWorkflow on a long turn', () => {
  let env: TestWorkflowEnvironment;

  beforeAll(async () => {
    env = await connectDevServer();
  });
  afterAll(async () => {
    await env?.teardown();
  });

  it('continues as new mid-turn and resumes at the next step', async () => {
    const STEPS = 120;
    const seen: StepInput[] = [];
    const activities = mockActivities({
      runModelStep: async (input) => {
        seen.push(input);
        return okStep(input.step < STEPS - 1);
      },
      finishTurn: async () => ({ nextTurn: null, status: 'waiting' }),
    });
    const chatId = randomUUID();
    const result = await withWorker(env, activities, (taskQueue) =>
      env.client.workflow.execute(chatWorkflow, turnOptions(chatId, 1, taskQueue)),
    );
    expect(result.outcome).toBe('completed');
    // Every step exactly once, in order, across the runs.
    expect(seen.map((s) => s.step)).toEqual(Array.from({ length: STEPS }, (_, i) => i));
    // The first run ended by continuing as new.
    const runs = [];
    for await (const run of env.client.workflow.list({ query: `WorkflowId = "chat-${chatId}"` })) runs.push(run);
    expect(runs.length).toBeGreaterThan(1);
  });
});
