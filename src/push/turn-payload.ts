/**
 * What a turn's end pushes, decided without I/O: whether a push is due at all, and the small JSON
 * payload a service worker receives. Kept pure so the rules (root chats only, finished turns only)
 * are tested without a browser, a database or Temporal.
 */
import type { ChatMessagePart } from '../messages/parts';
import type { TurnEnded } from '../turn/deps';

/** The JSON a subscribed browser's service worker receives, decrypted. */
export interface TurnPushPayload {
  chat_id: string;
  title: string;
  /** The start of the answer (or of the error message), at most SUMMARY_CHARS characters. */
  body: string;
  status: 'waiting' | 'error';
}

/** Characters of the answer a notification shows; the rest is one tap away. */
export const SUMMARY_CHARS = 120;
/** Characters of the chat title sent: keeps every payload far below the services' 4 KiB limit. */
export const TITLE_CHARS = 200;

/**
 * True when the turn's end deserves a push: a root chat (sub-agents report to their parent, not to
 * the user) that is not archived, whose turn completed (`waiting`) or failed (`error`). An interrupt
 * is the user's own action and a superseded or fenced run was replaced by another turn: no push.
 */
export function shouldPushTurnEnd(ended: TurnEnded): boolean {
  if (ended.parentChatId !== null || ended.archived) return false;
  return (
    (ended.outcome === 'completed' && ended.status === 'waiting') ||
    (ended.outcome === 'failed' && ended.status === 'error')
  );
}

/** The visible text of an assistant message's parts (answer text only: no reasoning, no tool calls). */
export function answerText(parts: readonly ChatMessagePart[]): string {
  return parts
    .filter((part) => part.type === 'text' && typeof part.text === 'string')
    .map((part) => part.text)
    .join('\n');
}

/**
 * `text` with runs of whitespace folded into single spaces, cut to at most `max` characters (code
 * points, so an emoji is never split); a cut text ends at a word boundary when one is near, with "…".
 */
export function summarize(text: string, max: number = SUMMARY_CHARS): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  const chars = Array.from(flat);
  if (chars.length <= max) return flat;
  const cut = chars.slice(0, max - 1).join('');
  const space = cut.lastIndexOf(' ');
  // Prefer a word boundary, unless that would drop more than a fifth of the room.
  const head = space >= cut.length * 0.8 ? cut.slice(0, space) : cut;
  return `${head.trimEnd()}…`;
}

/** The payload for a turn that `shouldPushTurnEnd` accepted; `answer` is the turn's last answer text. */
export function turnPushPayload(ended: TurnEnded, answer: string): TurnPushPayload {
  const status = ended.status === 'error' ? 'error' : 'waiting';
  const body = status === 'error' ? summarize(ended.lastError ?? '') || summarize(answer) : summarize(answer);
  return { chat_id: ended.chatId, title: summarize(ended.title, TITLE_CHARS), body, status };
}
