/**
 * The tool half of a step: run every local tool call of the step's assistant message concurrently,
 * publish each result as it finishes, and persist all results in call order in one batch under the
 * turn fence. Tool arguments and outputs never pass through workflow history: they are read from
 * and written to PostgreSQL here.
 */
import type { Kysely } from 'kysely';
import type { Database } from '../db/database';
import { readToolStep } from '../db/repositories/steps.repository';
import type { LinkedWorkspace } from '../db/repositories/workspaces.repository';
import type { ToolInputError } from '../llm/types';
import type { StreamBus } from '../stream/bus';
import { executeToolCalls, type ToolCallRequest, type ToolRegistry } from '../tools/registry';
import type { Workspace } from '../workspaces/types';
import { decodeParts, type ChatMessagePart } from './message-parts';
import { storeToolResults } from './tool-results';
import { INTERRUPT, stepKey, type StepInput } from './turn-runner';

export interface ToolStepDeps {
  db: Kysely<Database>;
  bus: StreamBus;
  tools: ToolRegistry;
  /**
   * The chat's running workspace, or null when it has none (tools then tell the model so); `linked` is
   * the chat's linked workspace row, already read with the step.
   */
  workspaceFor(chatId: string, linked?: LinkedWorkspace | null): Promise<Workspace | null>;
}

export type ToolStepSummary = { status: 'ok' | 'interrupted' | 'fenced'; results: number };

/** The calls of a step that run locally (not provider-executed, not handled by the workflow). */
export function localToolCalls(parts: ChatMessagePart[], workflowTools: ReadonlySet<string>): ToolCallRequest[] {
  return parts
    .filter((p) => p.type === 'tool-call' && !p.provider_executed && p.tool_call_id && p.tool_name)
    .filter((p) => !workflowTools.has(p.tool_name!))
    .map((p) => {
      const invalid = p.provider_metadata?.invalid_input as ToolInputError | undefined;
      const args = p.args !== null && typeof p.args === 'object' && !Array.isArray(p.args) ? p.args : {};
      return {
        id: p.tool_call_id!,
        name: p.tool_name!,
        input: args as Record<string, unknown>,
        ...(invalid ? { invalidInput: invalid } : {}),
      };
    });
}

/**
 * Runs the local tool calls of step `input.step`. On interrupt (signal reason INTERRUPT) the
 * unfinished calls get the interrupted result and everything is persisted; on any other abort
 * (worker shutdown) nothing is persisted and the error propagates so the step is retried elsewhere.
 */
export async function runToolStep(
  deps: ToolStepDeps,
  input: StepInput,
  workflowTools: ReadonlySet<string>,
  ctx: { signal: AbortSignal; heartbeat: () => void },
): Promise<ToolStepSummary> {
  const read = await readToolStep(deps.db, input.chatId, stepKey(input.turn, input.step, 'assistant'));
  if (!read || read.chat.turn !== input.turn || !read.stepContent) return { status: 'fenced', results: 0 };
  const { chat } = read;
  const calls = localToolCalls(decodeParts(read.stepContent), workflowTools);
  if (calls.length === 0) return { status: 'ok', results: 0 };

  const workspace = await deps.workspaceFor(chat.id, read.workspace);
  const results = await executeToolCalls(
    deps.tools,
    calls,
    { chatId: chat.id, workspace, signal: ctx.signal, heartbeat: ctx.heartbeat },
    {
      onResult: (r) =>
        deps.bus.publish(chat.id, {
          type: 'message_part',
          chat_id: chat.id,
          role: 'tool',
          part: { type: 'tool-result', tool_call_id: r.id, tool_name: r.name, result: r.result, is_error: r.isError },
        }),
    },
  );
  if (ctx.signal.aborted && ctx.signal.reason !== INTERRUPT) throw new Error('tool step aborted by worker shutdown');

  const stored = await storeToolResults(deps, input, results);
  if (stored === null) return { status: 'fenced', results: 0 };
  return { status: ctx.signal.aborted ? 'interrupted' : 'ok', results: stored };
}
