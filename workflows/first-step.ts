/**
 * A turn's first model step when it started early (docs/architecture.md "Early first step"): its activity
 * runs on the task queue of the process that started it, which takes over the step under way. When that
 * process does not pick the activity up in time (it stopped), the step runs on the shared queue
 * instead, from the start, telling clients first to drop what the early step streamed.
 */
import { log } from '@temporalio/workflow';
import type { ModelStepSummary } from '../activities/llm.activities';
import type { ModelStepInput } from '../src/turn/model-step';
import type { FirstStepRoute } from '../src/temporal/task-queues';
import { earlyModelStep, isPickupTimeout, modelStep } from './activity-proxies';

export async function runFirstModelStep(route: FirstStepRoute, input: ModelStepInput): Promise<ModelStepSummary> {
  try {
    return await earlyModelStep(route).runModelStep(input);
  } catch (err) {
    if (!isPickupTimeout(err)) throw err;
    log.warn('the early first step was not picked up; running it on the shared queue', {
      chatId: input.chatId,
      taskQueue: route.taskQueue,
    });
    return modelStep(0).runModelStep({ ...input, restart: true });
  }
}
