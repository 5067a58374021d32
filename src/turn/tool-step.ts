/**
 * The tool half of a step: run every local tool call of the step's assistant message concurrently,
 * publish each result as it finishes, and persist all results in call order in one batch under the
 * turn fence. Tool arguments and outputs never pass through workflow history: they are read from
 * and written to PostgreSQL here. It runs on the workspace's host, so it also records the
 * workspace's use and, after calls that may change files, refreshes the chat's git diff
 * (src/workspaces/diff-status.ts).
 */
import type { Kysely } from 'kysely';
import type { Tracer } from '@opentelemetry/api';
import type { Logger } from 'pino';
import type { Database } from '../db/database';
import { readToolStep } from '../db/repositories/steps.repository';
import {
  findWorkspaceForChat,
  touchWorkspaceUsed,
  type LinkedWorkspace,
} from '../db/repositories/workspaces.repository';
import type { ToolInputError } from '../llm/types';
import type { StreamBus } from '../stream/bus';
import { executeToolCalls, type ToolCallRequest, type ToolRegistry } from '../tools/registry';
import type { Workspace } from '../workspaces/types';
import { FILE_CHANGING_TOOLS, refreshDiffStatus, WORKSPACE_PROVISIONING_TOOLS } from '../workspaces/diff-status';
import { decodeParts, type ChatMessagePart } from '../messages/parts';
import { storeToolResults } from './tool-results';
import type { StepHandoff } from './step-handoff';
import { stepKey } from '../messages/rows';
import { INTERRUPT, type StepInput } from './deps';
import { withExternalTools, type ExternalToolSource } from './chat-tools';
import { toolCallObserver } from './observe';
import type { TurnMetrics } from './metrics';

export interface ToolStepDeps {
  db: Kysely<Database>;
  bus: StreamBus;
  tools: ToolRegistry;
  /** Tools from outside chatd (the chat's MCP servers); their calls are routed to it by name. */
  externalTools?: ExternalToolSource;
  /**
   * The chat's running workspace, or null when it has none (tools then tell the model so); `linked` is
   * the chat's linked workspace row, already read with the step.
   */
  workspaceFor(chatId: string, linked?: LinkedWorkspace | null): Promise<Workspace | null>;
  /** Where best-effort side work (workspace use, diff refresh) reports its failures. */
  log?: Logger;
  /** Told of each tool call's outcome and duration (README "Operations"). */
  metrics?: Pick<TurnMetrics, 'toolCall'>;
  /** Set when tracing is on: each tool call gets a span (src/turn/observe.ts, README "Traces"). */
  tracer?: Tracer;
  /** What the step's model step read and wrote, handed over in this process (step-handoff.ts). */
  handoff?: StepHandoff;
}

/** How long the diff refresh after an interrupted step may take (the turn is ending). */
const INTERRUPTED_DIFF_TIMEOUT_MS = 5_000;

export type ToolStepSummary = { status: 'ok' | 'interrupted' | 'fenced'; results: number };

/**
 * The calls of a step that run locally (not provider-executed, not handled by the workflow). A call id is
 * the call's identity (approval, results, `callIds`): a later call reusing an id never runs, so a call
 * cannot ride on the approval, or the auto policy, of another one with the same id.
 */
export function localToolCalls(parts: ChatMessagePart[], workflowTools: ReadonlySet<string>): ToolCallRequest[] {
  return firstOfEachId(
    parts.filter((p) => p.type === 'tool-call' && !p.provider_executed && p.tool_call_id && p.tool_name),
  )
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
 * Runs the local tool calls of step `input.step` (with `ctx.only`, those of them only: the rest wait for
 * approval or were denied, docs/tool-approval.md). On interrupt (signal reason INTERRUPT) the
 * unfinished calls get the interrupted result and everything is persisted; on any other abort
 * (worker shutdown) nothing is persisted and the error propagates so the step is retried elsewhere.
 */
export async function runToolStep(
  deps: ToolStepDeps,
  input: StepInput,
  workflowTools: ReadonlySet<string>,
  ctx: { signal: AbortSignal; heartbeat: () => void; only?: ReadonlySet<string>; attempt?: number },
): Promise<ToolStepSummary> {
  // The first attempt may have been handed its read by the step's model step, which read it with its write.
  const handed = (ctx.attempt ?? 1) === 1 ? deps.handoff?.takeForToolStep(input) : undefined;
  const read = handed
    ? { ...handed, stepContent: handed.message.content }
    : await readToolStep(deps.db, input.chatId, stepKey(input.turn, input.step, 'assistant'));
  if (!read || read.chat.turn !== input.turn || !read.stepContent) return { status: 'fenced', results: 0 };
  const { chat } = read;
  const calls = localToolCalls(decodeParts(read.stepContent), workflowTools).filter(
    (c) => !ctx.only || ctx.only.has(c.id),
  );
  if (calls.length === 0) return { status: 'ok', results: 0 };

  const workspace = await deps.workspaceFor(chat.id, read.workspace);
  // At most one cheap UPDATE a minute per workspace, while the tools run; never fails the step.
  const touched =
    workspace && read.workspace && read.workspaceUseDue
      ? touchWorkspaceUsed(deps.db, read.workspace.id).catch((err: unknown) => {
          deps.log?.warn({ err, chatId: chat.id }, 'could not record workspace use');
          return false;
        })
      : null;
  const external = deps.externalTools;
  const registry =
    external && calls.some((c) => external.owns(c.name))
      ? withExternalTools(deps.tools, external, await external.toolsFor(chat))
      : deps.tools;
  const results = await executeToolCalls(
    registry,
    calls,
    { chatId: chat.id, workspace, signal: ctx.signal, heartbeat: ctx.heartbeat },
    {
      observe: toolCallObserver(deps, ctx.signal, (tool) => (external?.owns(tool) ? 'mcp' : tool)),
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

  const stored = await storeToolResults(deps, input, results, handed);
  await touched;
  if (stored === null) return { status: 'fenced', results: 0 };
  await refreshDiffAfter(deps, chat.id, calls, read.workspace, workspace, ctx.signal.aborted);
  return { status: ctx.signal.aborted ? 'interrupted' : 'ok', results: stored };
}

/**
 * Refreshes the chat's diff when a call of the step may have changed files: one git run in the
 * workspace the step used, or in the one a provisioning call just linked. Never throws.
 */
async function refreshDiffAfter(
  deps: ToolStepDeps,
  chatId: string,
  calls: ToolCallRequest[],
  linked: LinkedWorkspace | null,
  connected: Workspace | null,
  interrupted: boolean,
): Promise<void> {
  const options = interrupted ? { timeoutMs: INTERRUPTED_DIFF_TIMEOUT_MS } : {};
  if (connected && linked && calls.some((c) => FILE_CHANGING_TOOLS.has(c.name))) {
    await refreshDiffStatus(deps, chatId, linked.id, connected, options);
    return;
  }
  if (!calls.some((c) => WORKSPACE_PROVISIONING_TOOLS.has(c.name))) return;
  try {
    const row = await findWorkspaceForChat(deps.db, chatId);
    const workspace = row ? await deps.workspaceFor(chatId, row) : null;
    if (row && workspace) await refreshDiffStatus(deps, chatId, row.id, workspace, options);
  } catch (err) {
    deps.log?.warn({ err, chatId }, 'could not reach the new workspace for its diff');
  }
}

/** The first part of each tool call id, in order. */
function firstOfEachId(parts: ChatMessagePart[]): ChatMessagePart[] {
  const seen = new Set<string>();
  return parts.filter((p) => !seen.has(p.tool_call_id!) && seen.add(p.tool_call_id!));
}
