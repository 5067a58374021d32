/**
 * Heartbeats a long activity on a timer (not per token), so a dead worker is detected within the
 * heartbeat timeout even while a model thinks silently, and cancellation reaches the activity.
 */
import { Context } from '@temporalio/activity';

/**
 * Starts heartbeating every `intervalMs`, with `details` (what the next attempt reads as its
 * `heartbeatDetails`); returns the function that stops it.
 */
export function startHeartbeat(intervalMs = 1000, details?: unknown): () => void {
  const ctx = Context.current();
  ctx.heartbeat(details);
  const timer = setInterval(() => ctx.heartbeat(details), intervalMs);
  return () => clearInterval(timer);
}
