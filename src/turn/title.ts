/**
 * Generated chat titles, run by the worker beside a chat's first turn: whether a chat qualifies, the one
 * cheap model call that turns the first user message into a short title, and storing it unless someone
 * renamed the chat meanwhile. Best effort by design: callers ignore its failures. The placeholder title
 * a chat gets at creation, and the normalisation both share, live in src/chat/title.ts.
 */
import type { LlmProvider, ModelRequest, Usage } from '../llm/types';
import { completeText } from './compaction';
import { fallbackTitle, normalizeTitle } from '../chat/title';
import { findChatWithConfigGeneration } from '../db/repositories/steps.repository';
import { titleModelFor } from '../llm/registry';
import { decodeParts } from '../messages/parts';
import type { TurnDeps } from './deps';
import { pricingFor, recordSideCall } from '../usage/side-calls';

/** Time allowed for the title call. */
export const TITLE_TIMEOUT_MS = 30_000;

/** Output cap of the title call; a title needs a dozen tokens, the rest is headroom for chatty models. */
export const TITLE_MAX_OUTPUT_TOKENS = 256;

/** How much of the first message is sent: the opening says what the chat is about, and long pastes cost money. */
const MAX_TITLE_INPUT_CHARS = 8_000;

/** System prompt of the title call. Our own wording. */
export const TITLE_PROMPT = [
  'You write titles for chats between a user and a coding assistant.',
  "Given the user's first message, reply with a title of 2 to 8 words that says what the chat is about.",
  'Start with a verb when that reads naturally (for example: Fix flaky login test, Add retry to upload client).',
  'Use sentence case. No quotes, no trailing punctuation, no emoji, no preamble: reply with the title alone.',
  'Do not answer or carry out the message itself.',
].join('\n');

/** What {@link shouldGenerateTitle} needs to know about a chat at the start of a turn. */
export interface TitleState {
  /** User-visible user messages so far. */
  userMessages: number;
  /** Assistant and tool messages so far. */
  assistantOrToolMessages: number;
  currentTitle: string;
  /** Text of the first user message. */
  firstUserText: string;
}

/**
 * True only for the first turn of a chat whose title nobody has chosen yet: exactly one user message, no
 * assistant or tool messages, a first message with text, and a title that is empty or still the fallback
 * derived from that message (so a title set by the user is never overwritten).
 */
export function shouldGenerateTitle(state: TitleState): boolean {
  if (state.userMessages !== 1 || state.assistantOrToolMessages !== 0) return false;
  if (state.firstUserText.trim() === '') return false;
  const current = state.currentTitle.trim();
  return current === '' || current === fallbackTitle(state.firstUserText);
}

/** Test and tuning knobs of {@link generateTitle}. */
export interface GenerateTitleOptions {
  /** Default {@link TITLE_TIMEOUT_MS}. */
  timeoutMs?: number;
  /** Told the call's token usage once the provider answered: what the title cost. */
  onUsage?: (usage: Usage) => void;
}

/**
 * Asks `model` for a title of the chat that starts with `firstUserText` and returns it normalised (quotes
 * and surrounding whitespace trimmed, whitespace collapsed, at most 80 code points). Returns null when there
 * is nothing to save: the answer is empty, or equals the fallback title the chat already has.
 *
 * Throws the provider's `LlmError` (kind `timeout` after 30 s, `canceled` when `signal` aborts).
 */
export async function generateTitle(
  provider: LlmProvider,
  model: string,
  firstUserText: string,
  signal?: AbortSignal,
  opts: GenerateTitleOptions = {},
): Promise<string | null> {
  const excerpt = [...firstUserText.trim()].slice(0, MAX_TITLE_INPUT_CHARS).join('');
  const request: ModelRequest = {
    model,
    messages: [
      { role: 'system', content: TITLE_PROMPT },
      { role: 'user', content: [{ type: 'text', text: excerpt }] },
    ],
    tools: [],
    options: { maxOutputTokens: TITLE_MAX_OUTPUT_TOKENS },
  };
  const raw = await completeText(provider, request, {
    timeoutMs: opts.timeoutMs ?? TITLE_TIMEOUT_MS,
    ...(signal ? { signal } : {}),
    onUsage: opts.onUsage,
  });
  const title = normalizeTitle(raw);
  if (title === '' || title === fallbackTitle(firstUserText)) return null;
  return title;
}
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

  // Over the owner's spend limit the chat keeps its placeholder title: no model call is made.
  if (deps.budget && !(await deps.budget.allows(chat.owner_id, configGeneration))) return { title: null };
  const model = await deps.models.resolve(chat.last_model_config_id, configGeneration);
  const titleModel = titleModelFor(model.providerKind) ?? model.model;
  let usage: Usage | null = null;
  const title = await generateTitle(model.provider, titleModel, firstUserText, signal, {
    onUsage: (u) => (usage = u),
  }).finally(async () => {
    if (!usage) return;
    const pricing = () => pricingFor(deps.db, model, titleModel);
    await recordSideCall(deps, {
      chatId: chat.id,
      ownerId: chat.owner_id,
      kind: 'title',
      model: titleModel,
      pricing,
      usage,
    });
  });
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
