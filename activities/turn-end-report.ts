/**
 * What an activity that ended a turn reports: the `turn finished` log line and, with tracing on, what
 * the whole turn used and cost on its own span (README "Traces"). The finishTurn activity ends turns
 * after an interrupt, a failure or a last tool step; the model step ends the others (its summary's
 * `finished`). Never fails the turn.
 */
import { trace } from '@opentelemetry/api';
import { turnUsage } from '../src/db/repositories/turn-usage.repository';
import type { FinishInput, TurnEnd } from '../src/turn/finish-turn';
import type { TurnDeps } from '../src/turn/deps';

export async function reportTurnEnd(deps: TurnDeps, input: FinishInput, result: TurnEnd): Promise<void> {
  deps.log.info({ outcome: input.outcome, status: result.status, nextTurn: result.nextTurn }, 'turn finished');
  if (!deps.tracer) return;
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
