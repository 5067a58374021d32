/**
 * The work of a turn, below Temporal: run one model step (load the prompt, stream the call,
 * publish deltas, persist the assistant message under the turn fence) and finish a turn (final
 * status, queue promotion, events). Activities are thin adapters over these two functions.
 */
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { Database } from '../db/database';
import {
  findChat,
  lockChat,
  markTurnRunning,
  touchIfCurrentTurn,
  updateChat,
} from '../db/repositories/chats.repository';
import {
  insertMessages,
  listPromptMessages,
  listQueuedMessages,
  popQueuedMessage,
} from '../db/repositories/messages.repository';
import type { ModelStepResult, ProviderKind } from '../llm/types';
import type { StreamBus } from '../stream/bus';
import type { StreamErrorPayload } from '../stream/events';
import { StepPublisher } from '../stream/step-publisher';
import { assistantPartToChat } from './convert';
import { toMessageDto, toQueuedDto } from './dto';
import { decodeParts, encodeParts } from './message-parts';
import type { ModelResolver } from './models';
import { buildPrompt } from './prompt';
import { StepAccumulator } from './step-accumulator';

export interface TurnDeps {
  db: Kysely<Database>;
  bus: StreamBus;
  models: ModelResolver;
  log: Logger;
  maxSteps: number;
}

export interface StepInput {
  chatId: string;
  turn: number;
  step: number;
}

export interface ToolCallSummary {
  id: string;
  name: string;
}

export type StepSummary =
  | { status: 'ok'; finishReason: ModelStepResult['finishReason']; toolCalls: ToolCallSummary[]; continue: boolean }
  | { status: 'interrupted' }
  | { status: 'fenced' };

/** The abort reason that means "the user interrupted"; any other reason (shutdown) is rethrown. */
export const INTERRUPT = 'interrupt';

export interface StepContext {
  /** Aborts the provider call: with reason INTERRUPT for a user interrupt, anything else otherwise. */
  signal: AbortSignal;
  /** Told which provider serves the step, so its errors can be classified. */
  onProvider?: (kind: ProviderKind) => void;
}

/** Step keys make persistence idempotent across activity retries (unique per chat). */
export const stepKey = (turn: number, step: number, slot: string): string => `t${turn}.s${step}.${slot}`;

/**
 * Runs step `step` of turn `turn`. Throws the provider's LlmError (to be classified and retried by
 * Temporal) or ModelConfigError. On abort it persists the partial answer and reports `interrupted`.
 */
export async function runModelStep(deps: TurnDeps, input: StepInput, ctx: StepContext): Promise<StepSummary> {
  const { db, bus } = deps;
  const chat =
    input.step === 0 ? await markTurnRunning(db, input.chatId, input.turn) : await findChat(db, input.chatId);
  if (!chat || chat.turn !== input.turn) return { status: 'fenced' };
  if (input.step === 0) bus.publish(chat.id, { type: 'status', chat_id: chat.id, status: 'running' });

  const model = await deps.models.resolve(chat.last_model_config_id);
  ctx.onProvider?.(model.providerKind);
  const rows = await listPromptMessages(db, chat.id);
  const messages = buildPrompt(rows.map((r) => ({ role: r.role, content: decodeParts(r.content) })));

  const started = Date.now();
  const publisher = new StepPublisher(bus, chat.id);
  const partial = new StepAccumulator();
  let result: ModelStepResult;
  try {
    result = await model.provider.streamStep(
      { model: model.model, messages, tools: [], options: model.callOptions, headers: { 'X-Chatd-Chat-Id': chat.id } },
      {
        signal: ctx.signal,
        onEvent: (event) => {
          partial.add(event);
          publisher.onEvent(event);
        },
      },
    );
  } catch (err) {
    publisher.close();
    if (!ctx.signal.aborted || ctx.signal.reason !== INTERRUPT) throw err;
    // Interrupted: keep what was streamed. The fence still applies (an edit discards it).
    const stored = await persistAssistant(
      deps,
      input,
      model.modelConfigId,
      {
        content: partial.snapshot(),
        finishReason: 'other',
        usage: {
          inputTokens: null,
          outputTokens: null,
          totalTokens: null,
          reasoningTokens: null,
          cacheReadTokens: null,
          cacheCreationTokens: null,
        },
      },
      Date.now() - started,
    );
    return stored ? { status: 'interrupted' } : { status: 'fenced' };
  }
  publisher.close();

  const stored = await persistAssistant(deps, input, model.modelConfigId, result, Date.now() - started);
  if (!stored) return { status: 'fenced' };
  const toolCalls = result.content
    .filter((p) => p.type === 'tool-call' && !p.providerExecuted)
    .map((p) => ({ id: (p as { id: string }).id, name: (p as { name: string }).name }));
  return {
    status: 'ok',
    finishReason: result.finishReason,
    toolCalls,
    continue: toolCalls.length > 0 && input.step + 1 < deps.maxSteps,
  };
}

/** Writes the step's assistant message if the turn is still current; false when fenced. */
async function persistAssistant(
  deps: TurnDeps,
  input: StepInput,
  modelConfigId: string,
  result: Pick<ModelStepResult, 'content' | 'finishReason' | 'usage' | 'responseId' | 'contextLimit'>,
  runtimeMs: number,
): Promise<boolean> {
  const parts = result.content
    .filter(
      (p) => !((p.type === 'text' || p.type === 'reasoning') && p.text === '' && !('signature' in p && p.signature)),
    )
    .map(assistantPartToChat);
  const nullIfZero = (n: number | null): number | null => (n ? n : null);
  const rows = await deps.db.transaction().execute(async (trx) => {
    if (!(await touchIfCurrentTurn(trx, input.chatId, input.turn))) return null;
    if (parts.length === 0) return [];
    return insertMessages(trx, [
      {
        chat_id: input.chatId,
        turn: input.turn,
        step_key: stepKey(input.turn, input.step, 'assistant'),
        model_config_id: modelConfigId,
        created_by: null,
        role: 'assistant',
        content: encodeParts(parts),
        input_tokens: nullIfZero(result.usage.inputTokens),
        output_tokens: nullIfZero(result.usage.outputTokens),
        total_tokens: nullIfZero(result.usage.totalTokens),
        reasoning_tokens: nullIfZero(result.usage.reasoningTokens),
        cache_creation_tokens: nullIfZero(result.usage.cacheCreationTokens),
        cache_read_tokens: nullIfZero(result.usage.cacheReadTokens),
        context_limit: result.contextLimit ?? null,
        total_cost_micros: null,
        runtime_ms: runtimeMs,
        provider_response_id: result.responseId ?? null,
      },
    ]);
  });
  if (rows === null) return false;
  for (const row of rows)
    deps.bus.publish(input.chatId, { type: 'message', chat_id: input.chatId, message: toMessageDto(row) });
  return true;
}

export interface FinishInput {
  chatId: string;
  turn: number;
  outcome: 'completed' | 'interrupted' | 'superseded' | 'failed' | 'fenced';
  error: StreamErrorPayload | null;
}

/**
 * Ends a turn under the chat's row lock: `waiting` (success or interrupt) promotes the oldest queued
 * message into the next turn; `error` keeps the queue. Returns the turn to run next, if any.
 */
export async function finishTurn(deps: TurnDeps, input: FinishInput): Promise<{ nextTurn: number | null }> {
  const { db, bus } = deps;
  const outcome = await db.transaction().execute(async (trx) => {
    const chat = await lockChat(trx, input.chatId);
    if (!chat) return null;
    // Superseded (edit) or already handed on: only report a newer pending turn.
    if (chat.turn !== input.turn) return { chat, next: chat.status === 'pending' ? chat.turn : null, promoted: null };
    // A user interrupt already wrote `waiting`; it wins over a failure that raced it.
    const failed = input.outcome === 'failed' && chat.status !== 'waiting';
    if (!failed) {
      const queued = await popQueuedMessage(trx, chat.id);
      if (queued) {
        const [message] = await insertMessages(trx, [
          {
            chat_id: chat.id,
            turn: chat.turn + 1,
            step_key: null,
            model_config_id: chat.last_model_config_id,
            created_by: chat.owner_id,
            role: 'user',
            content: JSON.stringify(queued.content),
            input_tokens: null,
            output_tokens: null,
            total_tokens: null,
            reasoning_tokens: null,
            cache_creation_tokens: null,
            cache_read_tokens: null,
            context_limit: null,
            total_cost_micros: null,
            runtime_ms: null,
            provider_response_id: null,
          },
        ]);
        const updated = await updateChat(trx, chat.id, {
          status: 'pending',
          turn: chat.turn + 1,
          last_error: null,
          last_error_kind: null,
        });
        return { chat: updated, next: updated.turn, promoted: message ?? null };
      }
    }
    const updated = await updateChat(trx, chat.id, {
      status: failed ? 'error' : 'waiting',
      last_error: failed ? (input.error?.message ?? 'The agent failed.') : null,
      last_error_kind: failed ? (input.error?.kind ?? 'generic') : null,
    });
    return { chat: updated, next: null, promoted: null };
  });
  if (!outcome) return { nextTurn: null };

  const { chat } = outcome;
  if (outcome.promoted) {
    bus.publish(chat.id, { type: 'message', chat_id: chat.id, message: toMessageDto(outcome.promoted) });
    const queue = await listQueuedMessages(db, chat.id);
    bus.publish(chat.id, { type: 'queue_update', chat_id: chat.id, queued_messages: queue.map(toQueuedDto) });
  }
  if (chat.turn === input.turn || outcome.promoted) {
    if (chat.status === 'error' && input.error)
      bus.publish(chat.id, { type: 'error', chat_id: chat.id, ...input.error });
    bus.publish(chat.id, { type: 'status', chat_id: chat.id, status: chat.status });
    bus.publishWatch(chat.owner_id, {
      kind: 'status_change',
      chat: {
        id: chat.id,
        status: chat.status,
        title: chat.title,
        parent_chat_id: chat.parent_chat_id,
        archived: chat.archived,
      },
    });
  }
  return { nextTurn: outcome.next };
}
