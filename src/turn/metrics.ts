/**
 * What the worker's turn code reports to the process's metrics (README "Operations"): the port the turn
 * steps, the model resolver and the side-call recorder are given (src/metrics implements it with
 * prom-client). Every method returns at once and never throws. Labels stay bounded: a model name comes
 * from an admin's model config, a tool name from the registry (MCP tools are reported as `mcp`).
 */
import { LlmError } from '../llm/errors';
import type { LlmProvider, ModelStreamEvent, Usage } from '../llm/types';

/** Why a model call's tokens were spent: a turn step, a chat title, a compaction summary. */
export type ModelUsageKind = 'step' | 'title' | 'compaction';

/** How one tool call ended: a result, an error result, interrupted by the user, or no result at all. */
export type ToolCallOutcome = 'ok' | 'error' | 'interrupted' | 'failed';

/** Which turn of which chat. */
export interface TurnKey {
  chatId: string;
  turn: number;
}

export interface TurnMetrics {
  /** A turn's first model step started (the chat is running it). */
  turnStarted(turn: TurnKey): void;
  /**
   * finishTurn ended a turn. Its duration is measured from `turnStarted` when both ran in this process
   * (no database read on the turn's path for a metric); a turn that moved between workers is counted
   * without a duration.
   */
  turnFinished(turn: TurnKey, outcome: string): void;
  /**
   * One provider call: `outcome` is `ok` or the LlmError kind; `firstTokenSeconds` until the first streamed
   * output (null when none came).
   */
  modelCall(call: {
    provider: string;
    model: string;
    outcome: string;
    firstTokenSeconds: number | null;
    seconds: number;
  }): void;
  /** The tokens and cost (micro-dollars; null: unpriced) charged for a call. */
  modelUsage(usage: { model: string; kind: ModelUsageKind; usage: Usage; costMicros: number | null }): void;
  toolCall(call: { tool: string; outcome: ToolCallOutcome; seconds: number }): void;
}

/** Stream events that are model output (the first of them is the call's first token). */
const OUTPUT_EVENTS: ReadonlySet<ModelStreamEvent['type']> = new Set([
  'text-delta',
  'reasoning-delta',
  'tool-call-start',
  'tool-call',
]);

/** `provider` with each call timed for `metrics`: time to the first output event, duration, outcome. */
export function meteredProvider(provider: LlmProvider, metrics: Pick<TurnMetrics, 'modelCall'>): LlmProvider {
  return {
    kind: provider.kind,
    async streamStep(request, options) {
      const started = performance.now();
      let firstToken: number | null = null;
      let outcome = 'ok';
      try {
        return await provider.streamStep(request, {
          ...options,
          onEvent: (event) => {
            if (firstToken === null && OUTPUT_EVENTS.has(event.type)) firstToken = performance.now();
            options.onEvent(event);
          },
        });
      } catch (err) {
        outcome = err instanceof LlmError ? err.kind : 'unknown';
        throw err;
      } finally {
        metrics.modelCall({
          provider: provider.kind,
          model: request.model,
          outcome,
          firstTokenSeconds: firstToken === null ? null : (firstToken - started) / 1000,
          seconds: (performance.now() - started) / 1000,
        });
      }
    },
  };
}
