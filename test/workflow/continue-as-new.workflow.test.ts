/**
 * Long turns roll over to a fresh history: when Temporal suggests continue-as-new (the test dev
 * server lowers the threshold to 400 events, see test/support/global-setup.ts), chatWorkflow
 * continues as the same turn from the next step, so no step is run twice or skipped.
 */
import { randomUUID } from 'node:crypto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import type { Activities } from '../../activities';
import type { StepInput } from '../../src/chat/turn-runner';
import { chatWorkflow } from '../../workflows';
import { connectDevServer, getWorkflowBundle } from '../support/temporal';

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
    const fail = async (): Promise<never> => {
      throw new Error('unexpected activity');
    };
    const activities: Activities = {
      runModelStep: async (input) => {
        seen.push(input);
        const more = input.step < STEPS - 1;
        return {
          status: 'ok',
          finishReason: more ? 'tool-calls' : 'stop',
          toolCalls: [],
          continue: more,
          compaction: null,
        };
      },
      finishTurn: async () => ({ nextTurn: null, status: 'waiting' }),
      generateChatTitle: async () => ({ title: null }),
      runTools: fail,
      persistToolResults: fail,
      spawnSubagent: fail,
      prepareWaitAgent: fail,
      getSubagentState: fail,
      messageSubagent: fail,
      closeSubagent: fail,
      compactChat: fail,
    };
    const taskQueue = `can-${randomUUID()}`;
    const chatId = randomUUID();
    const worker = await Worker.create({
      connection: env.nativeConnection,
      taskQueue,
      workflowBundle: await getWorkflowBundle(),
      activities,
    });
    const result = await worker.runUntil(
      env.client.workflow.execute(chatWorkflow, {
        args: [{ chatId, turn: 1 }],
        taskQueue,
        workflowId: `chat-${chatId}`,
      }),
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
