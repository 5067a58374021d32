/**
 * finishTurn: the end of a turn (src/turn/finish-turn.ts) as an activity. The workflow calls it when
 * the turn ends, whatever the outcome, outside the cancellable scope of the steps. With tracing on,
 * its span carries what the whole turn used and cost (README "Traces").
 */
import { trace } from '@opentelemetry/api';
import { turnUsage } from '../src/db/repositories/turn-usage.repository';
import { finishTurn, type FinishInput } from '../src/turn/finish-turn';
import type { TurnDeps } from '../src/turn/deps';

export function createFinishActivities(deps: TurnDeps) {
  return {
    async finishTurn(input: FinishInput): ReturnType<typeof finishTurn> {
      const result = await finishTurn(deps, input);
      deps.log.info({ outcome: input.outcome, status: result.status, nextTurn: result.nextTurn }, 'turn finished');
      if (deps.tracer) await recordTurnUsage(deps, input);
      return result;
    },
  };
}

/** Puts the turn's cost and tokens on the active (RunActivity:finishTurn) span; never fails the turn. */
async function recordTurnUsage(deps: TurnDeps, input: FinishInput): Promise<void> {
  const span = trace.getActiveSpan();
  if (!span?.isRecording()) return;
  try {
    const usage = await turnUsage(deps.db, input.chatId, input.turn);
    span.setAttributes({
      'chatd.turn.outcome': input.outcome,
      'chatd.turn.input_tokens': usage.inputTokens,
      'chatd.turn.output_tokens': usage.outputTokens,
      ...(usage.costMicros !== null ? { 'chatd.turn.cost_micros': usage.costMicros } : {}),
    });
  } catch (err) {
    deps.log.warn({ err }, 'could not read the turn usage for its trace');
  }
}
