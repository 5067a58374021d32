/**
 * chatWorkflow: one chat turn. Runs model steps (and their tool calls) until the model stops,
 * then hands the chat back through finishTurn, which may promote the next queued message; the
 * next turn is this workflow id's next run (continue-as-new). Only ids and summaries pass here.
 */
import {
  ActivityCancellationType,
  ApplicationFailure,
  CancellationScope,
  continueAsNew,
  isCancellation,
  log,
  proxyActivities,
  setHandler,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import { nextTurnToRun, type TurnError, type TurnOutcome } from './chat-turn';
import { interruptSignal, turnRequestedSignal, type ChatTurnInput } from './messages';

/** Failure types that must not be retried: retrying cannot fix them. */
export const NON_RETRYABLE_LLM_ERRORS = ['LlmError.Auth', 'LlmError.Config', 'LlmError.ContextLength'];

const { runModelStep } = proxyActivities<Activities>({
  startToCloseTimeout: '1 hour',
  heartbeatTimeout: '10 seconds',
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  // The provider SDKs never retry: this policy is the only one. No maximumAttempts: retryable kinds retry forever.
  retry: {
    initialInterval: '1 second',
    backoffCoefficient: 2,
    maximumInterval: '60 seconds',
    nonRetryableErrorTypes: NON_RETRYABLE_LLM_ERRORS,
  },
});

const { finishTurn } = proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', maximumInterval: '30 seconds' },
});

export interface ChatTurnResult {
  outcome: TurnOutcome;
  steps: number;
}

export async function chatWorkflow(input: ChatTurnInput): Promise<ChatTurnResult> {
  const steps = new CancellationScope();
  let stopReason: 'interrupted' | 'superseded' | null = null;
  let requestedTurn = input.turn;

  setHandler(interruptSignal, ({ turn }) => {
    if (turn !== input.turn) return;
    stopReason ??= 'interrupted';
    steps.cancel();
  });
  setHandler(turnRequestedSignal, ({ turn }) => {
    if (turn <= requestedTurn) return;
    requestedTurn = turn;
    stopReason = 'superseded';
    steps.cancel();
  });

  let outcome: TurnOutcome = 'completed';
  let error: TurnError | null = null;
  let step = 0;
  try {
    outcome = await steps.run(async () => {
      for (; ; step++) {
        const result = await runModelStep({ chatId: input.chatId, turn: input.turn, step });
        if (result.status !== 'ok') return result.status;
        if (!result.continue) return 'completed';
      }
    });
  } catch (err) {
    if (isCancellation(err)) {
      outcome = stopReason ?? 'interrupted';
    } else {
      outcome = 'failed';
      error = turnErrorFrom(err);
      log.warn('turn failed', { chatId: input.chatId, turn: input.turn, error: String(err) });
    }
  }

  const finished = await finishTurn({ chatId: input.chatId, turn: input.turn, outcome, error });
  const next = nextTurnToRun(input.turn, finished.nextTurn, requestedTurn);
  if (next !== null) await continueAsNew<typeof chatWorkflow>({ chatId: input.chatId, turn: next });
  return { outcome, steps: step + 1 };
}

/** The classified error an activity attached to its failure (activities/failures.ts), or a generic one. */
function turnErrorFrom(err: unknown): TurnError {
  const cause = (err as { cause?: unknown }).cause;
  if (cause instanceof ApplicationFailure) {
    const detail = cause.details?.[0] as Partial<TurnError> | undefined;
    if (detail && typeof detail.message === 'string' && typeof detail.kind === 'string') {
      return {
        message: detail.message,
        kind: detail.kind,
        provider: detail.provider ?? null,
        retryable: detail.retryable ?? false,
        status_code: detail.status_code ?? null,
      };
    }
  }
  return {
    message: 'The agent failed unexpectedly.',
    kind: 'generic',
    provider: null,
    retryable: false,
    status_code: null,
  };
}
