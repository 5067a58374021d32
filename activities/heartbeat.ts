/**
 * Heartbeats a long activity on a timer (not per token), so a dead worker is detected within the
 * heartbeat timeout even while a model thinks silently, and cancellation reaches the activity.
 */
import { Context } from '@temporalio/activity';

/** Starts heartbeating every `intervalMs`; returns the function that stops it. */
export function startHeartbeat(intervalMs = 1000): () => void {
  const ctx = Context.current();
  ctx.heartbeat();
  const timer = setInterval(() => ctx.heartbeat(), intervalMs);
  return () => clearInterval(timer);
}
