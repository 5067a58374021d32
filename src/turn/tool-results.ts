/**
 * Persists tool results produced outside the tool registry (the sub-agent calls the workflow runs)
 * as `tool` messages of their step, idempotently and under the turn fence.
 */
import type { Kysely } from 'kysely';
import type { Database } from '../db/database';
import { insertMessagesIfCurrentTurn } from '../db/repositories/messages.repository';
import type { ModelToolResult } from '../llm/types';
import { messageEvent, type StreamBus } from '../stream/bus';
import { toolResultRow } from '../messages/rows';
import type { StepInput } from './deps';
import type { StepHandoff, ToolStepHandoff } from './step-handoff';

/** A small, JSON-safe tool result that may pass through workflow history. */
export interface WorkflowToolResult {
  callId: string;
  name: string;
  result: Record<string, unknown>;
  isError: boolean;
}

/**
 * Stores a step's tool results, in the order given, as `tool` messages in one batch and publishes
 * them. Returns how many were stored, or null when the turn was superseded (the fence refused them).
 * With `handed` (what the step's model step handed its tool step), the statement also reads what the
 * next model step opens with, and hands it over when the step's tool work is complete.
 */
export async function storeToolResults(
  deps: { db: Kysely<Database>; bus: StreamBus; handoff?: StepHandoff },
  input: StepInput,
  results: Array<Pick<ModelToolResult, 'id' | 'name' | 'result' | 'isError'>>,
  handed?: ToolStepHandoff,
): Promise<number | null> {
  const [first, ...more] = results.map((r) => toolResultRow(input, r));
  if (!first) return 0;
  const rows =
    handed && deps.handoff
      ? await deps.handoff.storeToolResults(deps.db, input, [first, ...more], handed)
      : await insertMessagesIfCurrentTurn(deps.db, input.chatId, input.turn, [first, ...more]);
  if (!rows) return null;
  for (const row of rows) deps.bus.publish(input.chatId, messageEvent(row));
  return rows.length;
}

/** The sub-agent results the workflow produced (small, through history), stored like any tool result. */
export async function persistToolResults(
  deps: { db: Kysely<Database>; bus: StreamBus },
  input: StepInput,
  results: WorkflowToolResult[],
): Promise<{ stored: number }> {
  const stored = await storeToolResults(
    deps,
    input,
    results.map((r) => ({ id: r.callId, name: r.name, result: r.result, isError: r.isError })),
  );
  return { stored: stored ?? 0 };
}
