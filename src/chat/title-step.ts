/**
 * Title generation for a chat's first turn (reference §6.13), best effort: when the chat still has
 * its fallback title after the first message, ask the provider's cheap model for a short title and
 * store it only if nobody renamed the chat meanwhile.
 */
import { findChatWithConfigGeneration } from '../db/repositories/steps.repository';
import { titleModelFor } from '../llm/registry';
import { decodeParts } from './message-parts';
import { generateTitle, shouldGenerateTitle } from './title-generator';
import type { TurnDeps } from './turn-runner';

export async function generateChatTitle(
  deps: TurnDeps,
  input: { chatId: string },
  signal: AbortSignal,
): Promise<{ title: string | null }> {
  const found = await findChatWithConfigGeneration(deps.db, input.chatId);
  if (!found) return { title: null };
  const { chat, configGeneration } = found;
  const messages = await deps.db
    .selectFrom('chat_messages')
    .select(['role', 'content'])
    .where('chat_id', '=', chat.id)
    .where('deleted', '=', false)
    .where('visibility', 'in', ['user', 'both'])
    .orderBy('id')
    .limit(20)
    .execute();
  const users = messages.filter((m) => m.role === 'user');
  const firstUserText = users[0]
    ? decodeParts(users[0].content)
        .filter((p) => p.type === 'text')
        .map((p) => p.text)
        .join(' ')
    : '';
  const state = {
    userMessages: users.length,
    assistantOrToolMessages: messages.filter((m) => m.role === 'assistant' || m.role === 'tool').length,
    currentTitle: chat.title,
    firstUserText,
  };
  if (!shouldGenerateTitle(state)) return { title: null };

  const model = await deps.models.resolve(chat.last_model_config_id, configGeneration);
  const title = await generateTitle(
    model.provider,
    titleModelFor(model.providerKind) ?? model.model,
    firstUserText,
    signal,
  );
  if (!title) return { title: null };
  const updated = await deps.db
    .updateTable('chats')
    .set({ title })
    .where('id', '=', chat.id)
    .where('title', '=', chat.title)
    .returning(['id', 'owner_id', 'status', 'parent_chat_id', 'archived'])
    .executeTakeFirst();
  if (!updated) return { title: null };
  deps.bus.publish(chat.id, { type: 'title_change', chat_id: chat.id, title });
  deps.bus.publishWatch(updated.owner_id, {
    kind: 'title_change',
    chat: {
      id: chat.id,
      status: updated.status,
      title,
      parent_chat_id: updated.parent_chat_id,
      archived: updated.archived,
    },
  });
  return { title };
}
