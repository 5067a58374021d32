/**
 * The chat list as the API serves it: pinned chats first in pin order, then the rest most recently
 * active first, each with its unread flag, on an opaque keyset cursor (pin order, updated_at, id).
 */
import { ValidationError } from '../errors';
import { findChatListKey, listChatsPage, type ChatListKey } from '../db/repositories/chats.repository';
import { toChatDto, type ChatDto } from '../messages/dto';
import type { Actor } from '../security/actor';
import type { ChatServiceDeps } from './chat.service';

export interface ListChatsInput {
  archived: boolean;
  /** `key:value` pairs; a chat must carry all of them. */
  labels: string[];
  /** Opaque cursor from a previous page's `next_cursor`. */
  cursor?: string;
  /** Alternative cursor: list the chats after this one of the actor's chats. */
  afterId?: string;
  limit: number;
}

export interface ChatsPage {
  chats: ChatDto[];
  /** Pass as `cursor` for the next page; null on the last page. */
  next_cursor: string | null;
}

const invalidCursor = (): ValidationError => new ValidationError('Invalid cursor.', undefined, 'invalid_cursor');

/** The largest pin position (PostgreSQL `integer`). */
export const MAX_PIN_ORDER = 2_147_483_647;

/**
 * The opaque form of a listing key (base64url JSON `{p, u, i}`: pin order, updated_at, id): clients
 * pass it back, never build it.
 */
export function encodeChatCursor(key: ChatListKey): string {
  return Buffer.from(JSON.stringify({ p: key.pinOrder, u: key.updatedAt, i: key.id })).toString('base64url');
}

/**
 * Parses a cursor from encodeChatCursor; throws ValidationError `invalid_cursor` for anything else.
 * A cursor without `p` comes from before pinning existed, when no chat was pinned: it is read as a
 * key among the unpinned chats, which continues exactly where that listing left off.
 */
export function decodeChatCursor(cursor: string): ChatListKey {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw invalidCursor();
  }
  const { p = 0, u, i } = (value ?? {}) as { p?: unknown; u?: unknown; i?: unknown };
  const timestamp = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;
  const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
  if (typeof u !== 'string' || typeof i !== 'string' || !timestamp.test(u) || !uuid.test(i)) throw invalidCursor();
  if (typeof p !== 'number' || !Number.isInteger(p) || p < 0 || p > MAX_PIN_ORDER) throw invalidCursor();
  if (Number.isNaN(Date.parse(u))) throw invalidCursor();
  return { pinOrder: p, updatedAt: u, id: i };
}

/** Parses `key:value` label filters; one value per key. */
function parseLabelFilters(filters: string[]): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const filter of filters) {
    const sep = filter.indexOf(':');
    const key = filter.slice(0, sep);
    const value = filter.slice(sep + 1);
    if (sep <= 0) throw new ValidationError('A label filter is `key:value`.', { label: filter }, 'invalid_label');
    if (key in labels && labels[key] !== value) {
      throw new ValidationError('A label filter names one value per key.', { label: filter }, 'invalid_label');
    }
    labels[key] = value;
  }
  return labels;
}

/**
 * The actor's chats, pinned ones first in pin order, then the rest most recently active first, each
 * with its unread flag; filtered and paged in SQL on a keyset of (pin order, updated_at, id), so a
 * page is never short and rows never repeat while nothing changes.
 */
export async function listChats(
  deps: Pick<ChatServiceDeps, 'db'>,
  actor: Actor,
  input: ListChatsInput,
): Promise<ChatsPage> {
  if (input.cursor !== undefined && input.afterId !== undefined) {
    throw new ValidationError('Give either cursor or after_id, not both.', undefined, 'invalid_cursor');
  }
  let after: ChatListKey | undefined;
  if (input.cursor !== undefined) after = decodeChatCursor(input.cursor);
  if (input.afterId !== undefined) {
    after = await findChatListKey(deps.db, actor.id, input.afterId);
    if (!after) throw invalidCursor();
  }
  const page = await listChatsPage(deps.db, actor.id, {
    archived: input.archived,
    labels: parseLabelFilters(input.labels),
    after,
    limit: input.limit,
  });
  return {
    chats: page.rows.map((row) => toChatDto(row, row.has_unread)),
    next_cursor: page.next ? encodeChatCursor(page.next) : null,
  };
}
