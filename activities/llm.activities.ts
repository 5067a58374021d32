/**
 * runModelStep: one LLM call of a turn (see src/chat/turn-runner.ts). Adapts Temporal to the
 * domain: cancellation and the bus interrupt abort the call, a worker shutdown does not count as
 * an interrupt (the step is retried elsewhere), and failures are classified with a `retry` event
 * published before each retry so clients drop the partial answer.
 */
import { Context } from '@temporalio/activity';
import { INTERRUPT, runModelStep, type StepInput, type StepSummary, type TurnDeps } from '../src/chat/turn-runner';
import { classifyProviderError, retryDelayMs } from '../src/llm/errors';
import { toActivityFailure } from './failures';
import { startHeartbeat } from './heartbeat';

export function createLlmActivities(deps: TurnDeps) {
  return {
    async runModelStep(input: StepInput): Promise<StepSummary> {
      const ctx = Context.current();
      const abort = new AbortController();
      const onCancel = (): void => {
        // Only a cancellation the workflow asked for is an interrupt; shutdown or timeout is not.
        abort.abort(ctx.cancellationDetails?.cancelRequested ? INTERRUPT : ctx.cancellationSignal.reason);
      };
      ctx.cancellationSignal.addEventListener('abort', onCancel);
      const stopControl = deps.bus.onControl(input.chatId, (message) => {
        if (message.type === 'interrupt' && message.turn === input.turn) abort.abort(INTERRUPT);
      });
      const stopHeartbeat = startHeartbeat();
      let provider: Parameters<typeof toActivityFailure>[1] = null;
      try {
        return await runModelStep(deps, input, {
          signal: abort.signal,
          onProvider: (kind) => {
            provider = kind;
          },
        });
      } catch (err) {
        const retryAfter = provider ? classifyProviderError(err, provider).retryAfterMs : null;
        const delay = retryDelayMs(ctx.info.attempt - 1, retryAfter);
        const classified = toActivityFailure(err, provider, delay);
        if (classified.retryable && !ctx.cancellationSignal.aborted) {
          deps.bus.publish(input.chatId, {
            type: 'retry',
            chat_id: input.chatId,
            attempt: ctx.info.attempt,
            delay_ms: delay,
            retrying_at: new Date(Date.now() + delay).toISOString(),
            error: classified.payload,
          });
        }
        throw classified.failure;
      } finally {
        stopHeartbeat();
        stopControl();
        ctx.cancellationSignal.removeEventListener('abort', onCancel);
      }
    },
  };
}
