/**
 * Automatic compaction as one activity's work: summarise the conversation with
 * the chat's model, persist the three compressed messages under the turn fence, and publish the
 * "summarizing" tool call before and its result after. The next step's prompt starts at the
 * summary (the prompt read cuts history at the newest compressed summary).
 */
import { randomUUID } from 'node:crypto';
import { insertMessagesIfCurrentTurn } from '../db/repositories/messages.repository';
import { readModelStep } from '../db/repositories/steps.repository';
import {
  buildCompactionMessages,
  summarize,
  summaryCallId,
  summaryToolCallPart,
  summaryToolResultPart,
} from './compaction';
import { messageEvent } from '../stream/bus';
import { decodeParts } from '../messages/parts';
import { messageRow, stepKey } from '../messages/rows';
import { buildPrompt } from './prompt';
import { type StepInput, type TurnDeps } from './deps';
import type { Usage } from '../llm/types';
import { recordSideCall } from '../usage/side-calls';

/** What the model step measured; passed along so compaction records the numbers that triggered it. */
export interface CompactionTrigger {
  thresholdPercent: number;
  usagePercent: number;
  contextTokens: number;
  contextLimit: number;
}

export async function compactChat(
  deps: TurnDeps,
  input: StepInput & { trigger: CompactionTrigger },
  signal: AbortSignal,
): Promise<{ status: 'compacted' | 'fenced' }> {
  const read = await readModelStep(deps.db, input.chatId);
  if (!read || read.chat.turn !== input.turn) return { status: 'fenced' };
  const { chat, configGeneration, prompt: rows } = read;
  const model = await deps.models.resolve(chat.last_model_config_id, configGeneration);
  // Before the "summarizing" part: over the owner's spend limit there is no summary call.
  await deps.budget?.check(chat.owner_id, configGeneration);
  const messages = buildPrompt(rows.map((r) => ({ role: r.role, content: decodeParts(r.content) })));

  const callId = summaryCallId(randomUUID());
  const publishPart = (role: 'assistant' | 'tool', part: ReturnType<typeof summaryToolCallPart>): void =>
    deps.bus.publish(chat.id, { type: 'message_part', chat_id: chat.id, role, part });
  publishPart('assistant', summaryToolCallPart(callId, input.trigger.thresholdPercent));

  let usage: Usage | null = null;
  const summary = await summarize(
    model.provider,
    {
      model: model.model,
      messages,
      options: model.callOptions,
      tools: (await deps.chatTools(chat, configGeneration)).specs,
    },
    signal,
    { onUsage: (u) => (usage = u) },
  ).finally(async () => {
    if (!usage) return;
    const pricing = { modelConfigId: model.modelConfigId, prices: model.prices };
    await recordSideCall(deps, {
      chatId: chat.id,
      ownerId: chat.owner_id,
      kind: 'compaction',
      model: model.model,
      pricing,
      usage,
    });
  });
  const record = { summary, callId, ...input.trigger };
  const batch = buildCompactionMessages(record);
  const stored = await insertMessagesIfCurrentTurn(
    deps.db,
    chat.id,
    input.turn,
    batch.map((m, i) =>
      messageRow({
        chatId: chat.id,
        turn: input.turn,
        stepKey: stepKey(input.turn, input.step, `compaction.${i}`),
        role: m.role,
        content: m.content,
        modelConfigId: model.modelConfigId,
        visibility: m.visibility,
        compressed: true,
      }),
    ),
  );
  if (!stored) return { status: 'fenced' };
  publishPart('tool', summaryToolResultPart(record));
  for (const row of stored) {
    if (row.visibility !== 'model') deps.bus.publish(chat.id, messageEvent(row));
  }
  return { status: 'compacted' };
}
