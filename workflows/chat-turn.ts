/**
 * Pure decisions of the turn workflow, kept free of Temporal imports so they are unit tested
 * without a server: how a run ended, and which turn (if any) runs next.
 */

/** How a turn ended, as reported to finishTurn. */
export type TurnOutcome = 'completed' | 'interrupted' | 'superseded' | 'failed' | 'fenced';

/** Small, JSON-safe classification of a failure (never message bodies). */
export interface TurnError {
  message: string;
  kind: string;
  provider: string | null;
  retryable: boolean;
  status_code: number | null;
}

/** The turn to continue as: the newest of what the database and the signals asked for, if newer. */
export function nextTurnToRun(current: number, fromDatabase: number | null, fromSignals: number): number | null {
  const next = Math.max(fromDatabase ?? 0, fromSignals);
  return next > current ? next : null;
}
