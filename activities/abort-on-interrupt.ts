/**
 * The abort signal of an interruptible activity (model step, tools): aborted with reason INTERRUPT
 * by the bus fast path or by a cancellation the workflow requested, and with another reason by a
 * worker shutdown or timeout, which must not be treated as the user's interrupt.
 */
import { Context } from '@temporalio/activity';
import type { StreamBus } from '../src/stream/bus';
import { INTERRUPT, type StepInput } from '../src/turn/deps';

/** An activity's abort signal and the function that stops listening (call it in `finally`). */
export interface InterruptAbort {
  signal: AbortSignal;
  dispose(): void;
}

/**
 * Listens for the interrupt of turn `input.turn` on the bus (the fast path) and for the activity's
 * cancellation, and aborts the returned signal on either. Not the workflow's `interruptSignal`
 * (workflows/messages.ts): that signal is how the workflow hears of an interrupt; this is how a
 * running activity does.
 */
export function abortOnInterrupt(bus: StreamBus, input: Pick<StepInput, 'chatId' | 'turn'>): InterruptAbort {
  const ctx = Context.current();
  const abort = new AbortController();
  const onCancel = (): void =>
    abort.abort(ctx.cancellationDetails?.cancelRequested ? INTERRUPT : ctx.cancellationSignal.reason);
  ctx.cancellationSignal.addEventListener('abort', onCancel);
  const stopControl = bus.onControl(input.chatId, (message) => {
    if (message.type === 'interrupt' && message.turn === input.turn) abort.abort(INTERRUPT);
  });
  return {
    signal: abort.signal,
    dispose() {
      stopControl();
      ctx.cancellationSignal.removeEventListener('abort', onCancel);
    },
  };
}
