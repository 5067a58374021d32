/**
 * runModelStep: one LLM call of a turn (see src/turn/model-step.ts). Adapts Temporal to the
 * domain: cancellation and the bus interrupt abort the call, a worker shutdown does not count as
 * an interrupt (the step is retried elsewhere), and failures are classified with a `retry` event
 * published before each retry so clients drop the partial answer. The summary carries the route
 * of the step's tool calls: the task queue of the host holding the chat's workspace.
 */
import { ApplicationFailure, Context } from '@temporalio/activity';
import { runModelStep, type ModelStepInput, type StepSummary } from '../src/turn/model-step';
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
import { reportTurnEnd } from './turn-end-report';
import type { StepInput, TurnDeps } from '../src/turn/deps';
import type { ResolvedModel } from '../src/turn/models';
import { generateChatTitle } from '../src/turn/title';
import type { EarlyFirstSteps } from '../src/turn/early-first-step';

export interface WorkspaceRoutingDeps {
  /** CHATD_WORKSPACE_HOST_TIMEOUT: carried in each step's route, so the workflow needs no configuration. */
  workspaceHostTimeoutSeconds?: number;
}

export interface EarlyStepDeps {
  /** This process's early first steps, when it starts them (src/turn/early-first-step.ts). */
  earlySteps?: EarlyFirstSteps;
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
function retryEvent(
  chatId: string,
  attempt: number,
  delayMs: number,
  error: ErrorPayload,
  model?: string,
): StreamEvent {
  return {
    type: 'retry',
    chat_id: chatId,
    attempt,
    delay_ms: delayMs,
    retrying_at: new Date(Date.now() + delayMs).toISOString(),
    error,
    ...(model !== undefined ? { model } : {}),
  };
}

/**
 * After this many attempts in a row failed with the provider overloaded or rate-limited, the model
 * step's next attempts run on the fallback of the chat's model config (when it has one).
 */
export const FAILOVER_AFTER_ATTEMPTS = 3;

/** The failure kinds that count towards a failover: the provider is busy, not the request wrong. */
const FAILOVER_KINDS: ReadonlySet<string> = new Set(['overloaded', 'rate_limit']);

/**
 * What a model step attempt leaves for the next one. The activity API does not expose the previous
 * attempt's failure, but it does expose the last heartbeat details of the previous attempt: each
 * attempt heartbeats the streak it started with and, just before throwing, the streak the next
 * attempt starts with (one more after an overloaded or rate-limited failure, else zero).
 */
interface ModelStepHeartbeat {
  failoverStreak: number;
}

function failoverStreakOf(details: unknown): number {
  const streak = (details as Partial<ModelStepHeartbeat> | undefined)?.failoverStreak;
  return typeof streak === 'number' && streak > 0 ? streak : 0;
}

/** The model the next attempt runs on, when this attempt got as far as resolving its models. */
function nextModelName(
  models: { used: ResolvedModel; primary: ResolvedModel } | null,
  useFallback: boolean,
): string | undefined {
  if (!models) return undefined;
  return useFallback && models.primary.fallback ? models.primary.fallback.model : models.primary.model;
}

export function createLlmActivities(deps: TurnDeps & WorkspaceRoutingDeps & EarlyStepDeps) {
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

    async runModelStep(input: ModelStepInput): Promise<ModelStepSummary> {
      const ctx = Context.current();
      const interrupt = abortOnInterrupt(deps.bus, input);
      const streak = failoverStreakOf(ctx.info.heartbeatDetails);
      const stopHeartbeat = startHeartbeat(undefined, { failoverStreak: streak } satisfies ModelStepHeartbeat);
      let provider: Parameters<typeof toActivityFailure>[1] = null;
      let models: { used: ResolvedModel; primary: ResolvedModel } | null = null;
      // A first step this process started early is taken over; one that was not (abandoned here, or
      // started by a process that stopped) streamed output that clients must drop before this run.
      const first = ctx.info.attempt === 1;
      const early = first ? deps.earlySteps?.adopt(input, interrupt.signal) : undefined;
      if (first && !early && (input.restart || deps.earlySteps?.wasAbandoned(input))) {
        deps.bus.publish(input.chatId, retryEvent(input.chatId, ctx.info.attempt, 0, RETRY_WITHOUT_FAILURE));
      }
      try {
        const summary = await runModelStep(deps, input, {
          ...(early ? { early } : {}),
          signal: interrupt.signal,
          onProvider: (kind) => {
            provider = kind;
          },
          useFallback: streak >= FAILOVER_AFTER_ATTEMPTS,
          onModel: (used, primary) => {
            models = { used, primary };
          },
          attempt: ctx.info.attempt,
          // A retry that calls the model again (also after a crashed worker, which published nothing):
          // clients drop the old partial. A retry whose message is already committed publishes nothing.
          onRerun: () =>
            deps.bus.publish(
              input.chatId,
              retryEvent(input.chatId, ctx.info.attempt, 0, RETRY_WITHOUT_FAILURE, models?.used.model),
            ),
        });
        if (summary.status === 'ok' && summary.finished) {
          const finish = { chatId: input.chatId, turn: input.turn, outcome: 'completed' as const, error: null };
          await reportTurnEnd(deps, finish, summary.finished);
        }
        return withWorkspaceRoute(summary, deps.workspaceHostTimeoutSeconds ?? DEFAULT_HOST_PICKUP_TIMEOUT_SECONDS);
      } catch (err) {
        if (ctx.cancellationSignal.aborted && !ctx.cancellationDetails?.cancelRequested) {
          // Worker shutdown (or a timeout), not an interrupt: let Temporal run the step again elsewhere.
          deps.log.info('model step stopped by the worker shutting down; it runs again');
          throw ApplicationFailure.retryable('The worker stopped during the model step.', 'WorkerShutdown');
        }
        const retryAfter = provider ? classifyProviderError(err, provider).retryAfterMs : null;
        const delay = retryDelayMs(ctx.info.attempt - 1, retryAfter);
        const classified = toActivityFailure(err, provider, delay);
        deps.log.warn(
          {
            err,
            kind: classified.payload.kind,
            model: (models as { used: ResolvedModel } | null)?.used.model,
            retryable: classified.retryable,
            ...(classified.retryable ? { retryInMs: delay } : {}),
          },
          'model step failed',
        );
        if (classified.retryable && !ctx.cancellationSignal.aborted) {
          const nextStreak = FAILOVER_KINDS.has(classified.payload.kind) ? streak + 1 : 0;
          stopHeartbeat();
          ctx.heartbeat({ failoverStreak: nextStreak } satisfies ModelStepHeartbeat);
          const nextModel = nextModelName(models, nextStreak >= FAILOVER_AFTER_ATTEMPTS);
          deps.bus.publish(
            input.chatId,
            retryEvent(input.chatId, ctx.info.attempt, delay, classified.payload, nextModel),
          );
        }
        throw classified.failure;
      } finally {
        stopHeartbeat();
        interrupt.dispose();
      }
    },
  };
}
