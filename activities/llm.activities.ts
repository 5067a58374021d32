/**
 * runModelStep: one LLM call of a turn (see src/turn/model-step.ts). Adapts Temporal to the
 * domain: cancellation and the bus interrupt abort the call, a worker shutdown does not count as
 * an interrupt (the step is retried elsewhere), and failures are classified with a `retry` event
 * published before each retry so clients drop the partial answer. The summary carries the route
 * of the step's tool calls: the task queue of the host holding the chat's workspace.
 */
import { ApplicationFailure, Context } from '@temporalio/activity';
import { runModelStep, type StepSummary } from '../src/turn/model-step';
import {
  DEFAULT_HOST_PICKUP_TIMEOUT_SECONDS,
  workspaceHostTaskQueue,
  type WorkspaceHostRoute,
} from '../src/temporal/task-queues';
import { compactChat, type CompactionTrigger } from '../src/turn/compact-step';
import { classifyProviderError, retryDelayMs } from '../src/llm/errors';
import type { ErrorPayload } from '../src/messages/error-payload';
import type { StreamEvent } from '../src/stream/events';
import { toActivityFailure } from './failures';
import { startHeartbeat } from './heartbeat';
import { abortOnInterrupt } from './abort-on-interrupt';
import type { StepInput, TurnDeps } from '../src/turn/deps';
import { generateChatTitle } from '../src/turn/title';

export interface WorkspaceRoutingDeps {
  /** CHATD_WORKSPACE_HOST_TIMEOUT: carried in each step's route, so the workflow needs no configuration. */
  workspaceHostTimeoutSeconds?: number;
}

/**
 * A model step's summary as the workflow sees it: with `workspaceHost`, where the step's tool calls run
 * (null: on the shared task queue). Absent in histories from before workspace hosts.
 */
export type ModelStepSummary =
  | (Omit<Extract<StepSummary, { status: 'ok' }>, 'workspaceHostId'> & { workspaceHost?: WorkspaceHostRoute | null })
  | Exclude<StepSummary, { status: 'ok' }>;

/** Turns the step's workspace host into the route the workflow schedules runTools with. */
export function withWorkspaceRoute(summary: StepSummary, timeoutSeconds: number): ModelStepSummary {
  if (summary.status !== 'ok') return summary;
  const { workspaceHostId, ...rest } = summary;
  return {
    ...rest,
    workspaceHost: workspaceHostId
      ? {
          hostId: workspaceHostId,
          taskQueue: workspaceHostTaskQueue(workspaceHostId),
          pickupTimeoutSeconds: timeoutSeconds,
        }
      : null,
  };
}

/** The error of a `retry` event for an attempt whose predecessor left no classified failure (a crashed worker). */
const RETRY_WITHOUT_FAILURE: ErrorPayload = {
  message: 'The model step is being retried.',
  kind: 'retry',
  provider: null,
  retryable: true,
  status_code: null,
};

/**
 * The `retry` event: the step's partial answer is void (clients drop it) and the step runs again
 * `delayMs` from now. `attempt` is the number of the activity attempt that publishes it.
 */
function retryEvent(chatId: string, attempt: number, delayMs: number, error: ErrorPayload): StreamEvent {
  return {
    type: 'retry',
    chat_id: chatId,
    attempt,
    delay_ms: delayMs,
    retrying_at: new Date(Date.now() + delayMs).toISOString(),
    error,
  };
}

export function createLlmActivities(deps: TurnDeps & WorkspaceRoutingDeps) {
  return {
    /** Summarises the conversation when the context passed the threshold (src/turn/compact-step.ts). */
    async compactChat(input: StepInput & { trigger: CompactionTrigger }): ReturnType<typeof compactChat> {
      const stop = startHeartbeat();
      try {
        return await compactChat(deps, input, Context.current().cancellationSignal);
      } catch (err) {
        throw toActivityFailure(err, null).failure;
      } finally {
        stop();
      }
    },

    /** Best-effort title for a chat's first turn (src/turn/title.ts). */
    async generateChatTitle(input: { chatId: string }): Promise<{ title: string | null }> {
      return generateChatTitle(deps, input, Context.current().cancellationSignal);
    },

    async runModelStep(input: StepInput): Promise<ModelStepSummary> {
      const ctx = Context.current();
      const interrupt = abortOnInterrupt(deps.bus, input);
      const stopHeartbeat = startHeartbeat();
      let provider: Parameters<typeof toActivityFailure>[1] = null;
      try {
        const summary = await runModelStep(deps, input, {
          signal: interrupt.signal,
          onProvider: (kind) => {
            provider = kind;
          },
          attempt: ctx.info.attempt,
          // A retry that calls the model again (also after a crashed worker, which published nothing):
          // clients drop the old partial. A retry whose message is already committed publishes nothing.
          onRerun: () =>
            deps.bus.publish(input.chatId, retryEvent(input.chatId, ctx.info.attempt, 0, RETRY_WITHOUT_FAILURE)),
        });
        return withWorkspaceRoute(summary, deps.workspaceHostTimeoutSeconds ?? DEFAULT_HOST_PICKUP_TIMEOUT_SECONDS);
      } catch (err) {
        if (ctx.cancellationSignal.aborted && !ctx.cancellationDetails?.cancelRequested) {
          // Worker shutdown (or a timeout), not an interrupt: let Temporal run the step again elsewhere.
          throw ApplicationFailure.retryable('The worker stopped during the model step.', 'WorkerShutdown');
        }
        const retryAfter = provider ? classifyProviderError(err, provider).retryAfterMs : null;
        const delay = retryDelayMs(ctx.info.attempt - 1, retryAfter);
        const classified = toActivityFailure(err, provider, delay);
        if (classified.retryable && !ctx.cancellationSignal.aborted) {
          deps.bus.publish(input.chatId, retryEvent(input.chatId, ctx.info.attempt, delay, classified.payload));
        }
        throw classified.failure;
      } finally {
        stopHeartbeat();
        interrupt.dispose();
      }
    },
  };
}
