/**
 * One model step of a turn, below Temporal: open the step under the turn fence, build the prompt, stream
 * the provider's answer while publishing its deltas, and persist the assistant message if the turn is
 * still current. A retried step whose message an earlier attempt committed is answered from the stored
 * message. The activity in activities/llm.activities.ts is a thin adapter over `runModelStep`.
 */
import type { ChatMessageRow, NewChatMessageRow } from '../db/database';
import {
  findMessageByStepKey,
  insertMessagesIfCurrentTurn,
  type PromptRow,
} from '../db/repositories/messages.repository';
import { readModelStep, startModelStep, type QueuedTurn } from '../db/repositories/steps.repository';
import { recountSlots } from '../db/repositories/turn-slots.repository';
import type { LinkedWorkspace } from '../db/repositories/workspaces.repository';
import { LlmError } from '../llm/errors';
import { emptyUsage, type FinishReason, type ModelRequest, type ModelStepResult, type Usage } from '../llm/types';
import { StepPublisher } from '../stream/step-publisher';
import { assistantPartToChat } from '../messages/convert';
import { messageEvent, statusEvent } from '../stream/bus';
import { decodeParts, encodeParts } from '../messages/parts';
import type { CompactionTrigger } from './compact-step';
import { measureContext, resolveThreshold, shouldCompact } from './compaction';
import { calculateCostMicros } from './cost';
import type { ResolvedModel } from './models';
import { formatWorkspaceContext, loadInstructionFile } from './instructions';
import { stepKey, tokenColumns } from '../messages/rows';
import { buildPrompt, type PromptMessage } from './prompt';
import { loadPromptFiles } from './prompt-files';
import { StepAccumulator } from './step-accumulator';
import type { TurnDeps, StepInput, StepContext } from './deps';
import { toolNotesText, type ChatToolSet } from './chat-tools';
import { effectiveApproval } from './tool-approval-policy';
import { INTERRUPT } from './deps';
import { observeModelCall } from './observe';
import { announceTurnEnd, endTurnInTransaction, type FinishInput, type TurnEnd } from './finish-turn';

export interface ToolCallSummary {
  id: string;
  name: string;
  /** Set when the call must wait for the user's approval (docs/tool-approval.md); absent: it runs at once. */
  approval?: 'ask';
}

export type StepSummary =
  | {
      status: 'ok';
      finishReason: ModelStepResult['finishReason'];
      toolCalls: ToolCallSummary[];
      continue: boolean;
      /** Set when the context is over the compaction threshold after this step. */
      compaction: CompactionTrigger | null;
      /**
       * The worker host holding the chat's workspace (its tool calls run there), read with the step; null
       * when the chat has no live workspace or its row has no host.
       */
      workspaceHostId?: string | null;
      /**
       * Set when this step also ended the turn (asked with `finish`): it was the last, and its message
       * and the turn's end committed together. The workflow then does not call finishTurn.
       */
      finished?: TurnEnd;
    }
  | { status: 'interrupted' }
  | { status: 'fenced' }
  /** The owner's running-turn slots are all taken: the turn waits (docs/operations.md "Fair scheduling"). */
  | { status: 'queued'; position: number };

/**
 * A model step's input. With `finish`, a step that turns out to be the turn's last also ends the turn.
 * `restart`: an early first step was not taken over (src/turn/early-first-step.ts), and clients are told
 * to drop what it streamed before this one runs.
 */
export type ModelStepInput = StepInput & { finish?: boolean; restart?: boolean };

/**
 * Runs step `step` of turn `turn`. Throws the provider's LlmError (to be classified and retried by
 * Temporal) or ModelConfigError. On abort it persists the partial answer and reports `interrupted`.
 * With `ctx.early`, the step was opened and its answer requested before the activity started
 * (src/turn/early-first-step.ts): the step takes it over from there.
 */
export async function runModelStep(
  deps: TurnDeps,
  input: ModelStepInput,
  ctx: StepContext & { early?: EarlyStep },
): Promise<StepSummary> {
  if (ctx.early) {
    const started = await ctx.early.started;
    if (started.kind === 'done') return started.summary;
    ctx.onProvider?.(started.step.model.providerKind);
    ctx.onModel?.(started.step.model, started.step.primary);
    return completeModelStep(deps, started.step, started.answer, ctx.early.signal);
  }
  const opening = await openModelStep(deps, input, ctx);
  if (opening.kind === 'done') return opening.summary;
  return completeModelStep(deps, opening.step, requestAnswer(deps, opening.step, ctx.signal), ctx.signal);
}

/**
 * A first step opened, and its answer requested, before its activity started (src/turn/early-first-step.ts).
 * `signal` aborts that request: the activity forwards its interrupts and cancellation to it.
 */
export interface EarlyStep {
  started: Promise<
    Extract<StepOpening, { kind: 'done' }> | { kind: 'answering'; step: OpenedStep; answer: StepAnswer }
  >;
  signal: AbortSignal;
}

/** A model step opened: its read, its models and its prompt, ready for the provider. */
export interface OpenedStep {
  input: ModelStepInput;
  read: StepRead;
  /** The model the step runs on: the chat's model config, or its fallback. */
  model: ResolvedModel;
  /** The chat's model config. */
  primary: ResolvedModel;
  userThreshold: UserThreshold;
  toolCall: (id: string, name: string) => ToolCallSummary;
  instructions: PromptMessage[];
  history: PromptMessage[];
  tools: ChatToolSet;
}

/** An opened step, or the step's summary when there is nothing to ask the model (queued, fenced, committed). */
export type StepOpening = { kind: 'opened'; step: OpenedStep } | { kind: 'done'; summary: StepSummary };

/**
 * Opens the step: the opening statement (or the read handed over), the models, the settings, the tools
 * and the prompt, the committed message of an earlier attempt and the owner's spend limit.
 */
export async function openModelStep(
  deps: TurnDeps,
  input: ModelStepInput,
  ctx: Pick<StepContext, 'attempt' | 'useFallback' | 'onProvider' | 'onModel' | 'onRerun'>,
): Promise<StepOpening> {
  const { db, bus } = deps;
  // One statement opens the step: the fence (step 0 also moves the chat to `running`), the config
  // generation the caches below are checked against, and the prompt rows. A later step's first attempt
  // may have been handed them by the tool step before it, which read them with its write (step-handoff.ts).
  const handed = input.step > 0 && (ctx.attempt ?? 1) === 1 ? deps.handoff?.takeForModelStep(input) : undefined;
  const read =
    input.step === 0
      ? await startModelStep(db, input.chatId, input.turn, deps.maxRunningTurnsPerUser)
      : (handed ?? (await readModelStep(db, input.chatId)));
  if (read && 'queued' in read) return { kind: 'done', summary: await queuedTurn(deps, input, read) };
  if (!read || read.chat.turn !== input.turn) return { kind: 'done', summary: { status: 'fenced' } };
  const { chat, configGeneration, prompt: rows } = read;
  if (input.step === 0) {
    bus.publish(chat.id, statusEvent({ id: chat.id, status: 'running', turn: input.turn }));
    // A retried first step started its turn already.
    if ((ctx.attempt ?? 1) === 1) deps.metrics?.turnStarted({ chatId: chat.id, turn: input.turn });
  }
  const primary = await deps.models.resolve(chat.last_model_config_id, configGeneration);
  const model =
    ctx.useFallback && primary.fallback
      ? await deps.models.resolve(primary.fallback.modelConfigId, configGeneration)
      : primary;
  ctx.onProvider?.(model.providerKind);
  ctx.onModel?.(model, primary);
  const [{ systemPrompt, userPrompt, userThreshold, builtInApproval }, workspaceContext, tools] = await Promise.all([
    deps.settings.forUser(chat.owner_id, configGeneration),
    chat.workspace_id ? workspaceContextFor(deps, chat.id, read.workspace) : null,
    deps.chatTools(chat, configGeneration),
  ]);
  const toolNotes = toolNotesText(tools.notes);
  const toolCall = (id: string, name: string): ToolCallSummary =>
    effectiveApproval(name, tools.approval(name) ?? builtInApproval(name), chat) === 'ask'
      ? { id, name, approval: 'ask' }
      : { id, name };
  const instructions: PromptMessage[] = [
    ...(systemPrompt ? [{ role: 'system' as const, content: [{ type: 'text' as const, text: systemPrompt }] }] : []),
    ...(userPrompt
      ? [
          {
            role: 'system' as const,
            content: [{ type: 'text' as const, text: `<user-instructions>\n${userPrompt}\n</user-instructions>` }],
          },
        ]
      : []),
    ...(workspaceContext
      ? [{ role: 'system' as const, content: [{ type: 'text' as const, text: workspaceContext }] }]
      : []),
    ...(toolNotes ? [{ role: 'system' as const, content: [{ type: 'text' as const, text: toolNotes }] }] : []),
  ];
  if ((ctx.attempt ?? 1) > 1) {
    // A retry whose earlier run committed its message (the completion was lost): exactly once.
    const committed = await findMessageByStepKey(db, chat.id, stepKey(input.turn, input.step, 'assistant'));
    if (committed) {
      return {
        kind: 'done',
        summary: committedStepSummary(deps, input, read, committed, model, userThreshold, toolCall),
      };
    }
    ctx.onRerun?.();
  }
  // Over the owner's spend limit the provider is not called: a non-retryable usage_limit failure.
  await deps.budget?.check(chat.owner_id, configGeneration);
  // Stored file parts hold ids only; their bytes are read now, for this request (prompt-files.ts).
  const history = await loadPromptFiles(
    db,
    chat.owner_id,
    rows.map((r) => ({ role: r.role, content: decodeParts(r.content) })),
  );
  return {
    kind: 'opened',
    step: { input, read, model, primary, userThreshold, toolCall, instructions, history, tools },
  };
}

/** The provider's answer being streamed: its deltas are published as they come, and kept in `partial`. */
export interface StepAnswer {
  result: Promise<ModelStepResult>;
  partial: StepAccumulator;
  startedAt: number;
}

/** Asks the provider for the opened step's answer, publishing its deltas; `signal` aborts the request. */
export function requestAnswer(deps: TurnDeps, step: OpenedStep, signal: AbortSignal): StepAnswer {
  const { model, tools, instructions, history } = step;
  const chatId = step.read.chat.id;
  const messages = buildPrompt([...instructions, ...history]);
  const chain = chainFrom(model, step.read.prompt);
  const publisher = new StepPublisher(deps.bus, chatId);
  const partial = new StepAccumulator();
  const stream = (request: Pick<ModelRequest, 'messages' | 'previousResponseId'>): Promise<ModelStepResult> =>
    observeModelCall(deps, model, signal, () =>
      model.provider.streamStep(
        {
          model: model.model,
          ...request,
          tools: tools.specs,
          ...(model.providerTools ? { providerTools: model.providerTools } : {}),
          options: model.callOptions,
          headers: { 'X-Chatd-Chat-Id': chatId },
        },
        {
          signal,
          onEvent: (event) => {
            partial.add(event);
            publisher.onEvent(event);
          },
        },
      ),
    );
  const ask = async (): Promise<ModelStepResult> => {
    if (!chain) return stream({ messages });
    try {
      return await stream({
        messages: buildPrompt([...instructions, ...history.slice(chain.tailFrom)]),
        previousResponseId: chain.responseId,
      });
    } catch (err) {
      // The provider no longer knows the stored response (expired, other project): resend everything.
      if (!(err instanceof LlmError) || err.kind !== 'config' || signal.aborted) throw err;
      deps.log.info({ chatId }, 'chain mode rejected; sending the full history');
      return stream({ messages });
    }
  };
  const startedAt = Date.now();
  return { result: ask().finally(() => publisher.close()), partial, startedAt };
}

/**
 * Waits for the answer and persists it (or, when `signal` was aborted for an interrupt, the partial
 * answer), and summarises the step for the workflow.
 */
export async function completeModelStep(
  deps: TurnDeps,
  step: OpenedStep,
  answer: StepAnswer,
  signal: AbortSignal,
): Promise<StepSummary> {
  const { input, read, model, userThreshold, toolCall } = step;
  let result: ModelStepResult;
  try {
    result = await answer.result;
  } catch (err) {
    if (!signal.aborted || signal.reason !== INTERRUPT) throw err;
    return keepInterruptedAnswer(deps, step, answer);
  }
  const toolCalls = result.content
    .filter((p) => p.type === 'tool-call' && !p.providerExecuted)
    .map((p) => toolCall((p as { id: string }).id, (p as { name: string }).name));
  const summary = okSummary(deps, input, read, model, userThreshold, {
    toolCalls,
    finishReason: result.finishReason,
    usage: result.usage,
    contextLimit: result.contextLimit ?? model.contextLimit,
  });
  // The turn's last step (nothing to run, nothing to compact) ends the turn in the same commit; a step
  // whose tools run next hands them what it read (unless a compaction will rewrite the prompt).
  const ok = summary.status === 'ok';
  const then =
    input.finish && ok && summary.toolCalls.length === 0 && !summary.compaction
      ? 'end-turn'
      : ok && summary.continue && !summary.compaction
        ? read
        : null;
  const stored = await persistAssistant(deps, input, model, result, Date.now() - answer.startedAt, then);
  if (!stored) return { status: 'fenced' };
  deps.budget?.add(read.chat.owner_id, calculateCostMicros(result.usage, model.prices));
  return stored === true ? summary : ({ ...summary, finished: stored.finished } as StepSummary);
}

/** Stores what an interrupted step streamed. The fence still applies (an edit discards it). */
export async function keepInterruptedAnswer(
  deps: TurnDeps,
  step: OpenedStep,
  answer: StepAnswer,
): Promise<Extract<StepSummary, { status: 'interrupted' | 'fenced' }>> {
  const stored = await persistAssistant(
    deps,
    step.input,
    step.model,
    { content: answer.partial.snapshot(), finishReason: 'other', usage: emptyUsage() },
    Date.now() - answer.startedAt,
  );
  return stored ? { status: 'interrupted' } : { status: 'fenced' };
}

type StepRead = NonNullable<Awaited<ReturnType<typeof readModelStep>>>;

/**
 * A first step refused a running-turn slot: tells the chat's clients where the turn waits, and recounts the
 * owner's slots (one lost to a run that never ended comes back, so the queue cannot stall on it).
 */
async function queuedTurn(deps: TurnDeps, input: StepInput, queued: QueuedTurn): Promise<StepSummary> {
  deps.bus.publish(input.chatId, { type: 'turn_queued', chat_id: input.chatId, position: queued.position });
  await recountSlots(deps.db, queued.ownerId);
  return { status: 'queued', position: queued.position };
}
type UserThreshold = (modelConfigId: string) => number | null;

/** The summary of a step whose message is committed: its tool calls, whether to go on, whether to compact. */
function okSummary(
  deps: TurnDeps,
  input: StepInput,
  read: StepRead,
  model: ResolvedModel,
  userThreshold: UserThreshold,
  step: { toolCalls: ToolCallSummary[]; finishReason: FinishReason; usage: Usage; contextLimit: number },
): StepSummary {
  // One call per id, the first (as the tool step runs them): a repeated id must not borrow its policy.
  const seen = new Set<string>();
  const toolCalls = step.toolCalls.filter((c) => !seen.has(c.id) && seen.add(c.id));
  const measured = measureContext(step.usage, step.contextLimit);
  const thresholdPercent = resolveThreshold(model.compressionThreshold, userThreshold(model.modelConfigId));
  const compaction =
    measured && measured.usagePercent !== null && shouldCompact(measured.usagePercent, thresholdPercent)
      ? {
          thresholdPercent,
          usagePercent: measured.usagePercent,
          contextTokens: measured.contextTokens ?? 0,
          contextLimit: measured.contextLimit,
        }
      : null;
  return {
    status: 'ok',
    finishReason: step.finishReason,
    toolCalls,
    continue: toolCalls.length > 0 && input.step + 1 < deps.maxSteps,
    compaction,
    workspaceHostId: read.workspace && read.workspace.status !== 'deleted' ? read.workspace.host_id : null,
  };
}

/**
 * The summary of a step an earlier attempt already committed, rebuilt from the stored message: its tool
 * calls and usage are what the workflow needs; nothing is published again. A chat that is `waiting` was
 * interrupted while that attempt ran, and the stored message is its partial answer.
 */
function committedStepSummary(
  deps: TurnDeps,
  input: StepInput,
  read: StepRead,
  committed: ChatMessageRow,
  model: ResolvedModel,
  userThreshold: UserThreshold,
  toolCall: (id: string, name: string) => ToolCallSummary,
): StepSummary {
  const toolCalls = decodeParts(committed.content)
    .filter((p) => p.type === 'tool-call' && !p.provider_executed && p.tool_call_id && p.tool_name)
    .map((p) => toolCall(p.tool_call_id!, p.tool_name!));
  // Interrupted while that attempt ran, or ended by it (a last step's message and the turn's end commit
  // together): either way the chat is idle, and finishTurn ends the turn again (it is idempotent).
  if (read.chat.status === 'waiting') return { status: 'interrupted' };
  return okSummary(deps, input, read, model, userThreshold, {
    toolCalls,
    finishReason: toolCalls.length > 0 ? 'tool-calls' : 'stop',
    usage: {
      inputTokens: committed.input_tokens,
      outputTokens: committed.output_tokens,
      totalTokens: committed.total_tokens,
      reasoningTokens: committed.reasoning_tokens,
      cacheReadTokens: committed.cache_read_tokens,
      cacheCreationTokens: committed.cache_creation_tokens,
    },
    contextLimit: committed.context_limit ?? model.contextLimit,
  });
}

/** The workspace-context block (working directory, AGENTS.md) when the chat's workspace is running. */
async function workspaceContextFor(
  deps: TurnDeps,
  chatId: string,
  linked: LinkedWorkspace | null,
): Promise<string | null> {
  const workspace = await deps.workspaceFor?.(chatId, linked).catch(() => null);
  if (!workspace) return null;
  return formatWorkspaceContext(workspace, await loadInstructionFile(workspace).catch(() => null));
}

/**
 * OpenAI Responses chain mode: with `store` on, when the newest assistant message
 * came from this model config with a stored response id and only user messages follow it, the
 * request continues that response and carries just the new user messages.
 */
function chainFrom(model: ResolvedModel, rows: PromptRow[]): { responseId: string; tailFrom: number } | null {
  if (model.providerKind !== 'openai' || !model.callOptions.store) return null;
  for (let i = rows.length - 1; i >= 0; i--) {
    const row = rows[i]!;
    if (row.role === 'user') continue;
    if (row.role !== 'assistant' || !row.provider_response_id || row.model_config_id !== model.modelConfigId)
      return null;
    return i === rows.length - 1 ? null : { responseId: row.provider_response_id, tailFrom: i + 1 };
  }
  return null;
}

/**
 * Writes the step's assistant message if the turn is still current; false when fenced. With `then`
 * 'end-turn' the turn's end commits with the message (finish-turn.ts endTurnInTransaction) and is
 * announced after it; with the step's read, the statement also reads what the step's tool step opens
 * with, and hands it over (step-handoff.ts).
 */
async function persistAssistant(
  deps: TurnDeps,
  input: StepInput,
  model: ResolvedModel,
  result: Pick<ModelStepResult, 'content' | 'finishReason' | 'usage' | 'responseId' | 'contextLimit'>,
  runtimeMs: number,
  then: 'end-turn' | StepRead | null = null,
): Promise<boolean | { finished: TurnEnd }> {
  const parts = result.content
    .filter(
      (p) => !((p.type === 'text' || p.type === 'reasoning') && p.text === '' && !('signature' in p && p.signature)),
    )
    .map(assistantPartToChat);
  const costMicros = calculateCostMicros(result.usage, model.prices);
  const message: NewChatMessageRow = {
    chat_id: input.chatId,
    turn: input.turn,
    step_key: stepKey(input.turn, input.step, 'assistant'),
    model_config_id: model.modelConfigId,
    created_by: null,
    role: 'assistant',
    content: encodeParts(parts),
    ...tokenColumns(result.usage),
    total_tokens: result.usage.totalTokens || null,
    context_limit: result.contextLimit ?? model.contextLimit,
    // NULL means unpriced, which is not the same as free.
    total_cost_micros: costMicros,
    runtime_ms: runtimeMs,
    provider_response_id: result.responseId ?? null,
  };
  // An empty step stores nothing but is still fenced: a superseded turn must not report success.
  const messages = parts.length ? [message] : [];
  const finish: FinishInput = { chatId: input.chatId, turn: input.turn, outcome: 'completed', error: null };
  const written =
    then === 'end-turn'
      ? await deps.db.transaction().execute(async (trx) => {
          const rows = await insertMessagesIfCurrentTurn(trx, input.chatId, input.turn, messages);
          return rows && { rows, ended: await endTurnInTransaction(trx, finish) };
        })
      : await (
          then && deps.handoff && messages.length
            ? deps.handoff.storeModelStepMessage(deps.db, input, message, then)
            : insertMessagesIfCurrentTurn(deps.db, input.chatId, input.turn, messages)
        ).then((rows) => rows && { rows, ended: undefined });
  if (written === null) return false;
  deps.metrics?.modelUsage({ model: model.model, kind: 'step', usage: result.usage, costMicros });
  for (const row of written.rows) deps.bus.publish(input.chatId, messageEvent(row));
  if (written.ended === undefined) return true;
  return { finished: await announceTurnEnd(deps, finish, written.ended) };
}
