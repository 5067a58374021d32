/**
 * The log context of every activity (README "Logs"): an inbound interceptor that runs the activity
 * with its name, its attempt and the chat, turn and step of its input bound to the process logger,
 * so every line it writes, however deep below it, says which turn it belongs to. Activity inputs
 * are objects with `chatId` (all of chatd's activities) and, for the steps, `turn` and `step`.
 */
import type { ActivityInterceptorsFactory } from '@temporalio/worker';
import { withLogContext, type LogContext } from '../src/log';

/** The fields an activity's first argument binds. */
export function logContextOf(activity: string, attempt: number, input: unknown): LogContext {
  const fields: LogContext = { activity, ...(attempt > 1 ? { attempt } : {}) };
  if (typeof input !== 'object' || input === null) return fields;
  const { chatId, turn, step } = input as Record<string, unknown>;
  if (typeof chatId === 'string') fields.chatId = chatId;
  if (typeof turn === 'number') fields.turn = turn;
  if (typeof step === 'number') fields.step = step;
  return fields;
}

export const activityLogContext: ActivityInterceptorsFactory = (ctx) => ({
  inbound: {
    execute: (input, next) =>
      withLogContext(logContextOf(ctx.info.activityType, ctx.info.attempt, input.args[0]), () => next(input)),
  },
});
