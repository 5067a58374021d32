/**
 * chatd's custom search attributes, so operators can find a chat's turns in the Temporal UI
 * (`ChatId = "…"`, `OwnerId = "…"`). Registered on the dev server at start; production clusters
 * register them once with `temporal operator search-attribute create` (see README). The attribute
 * names are durable: saved Temporal UI queries and running workflows use them.
 */
import { defineSearchAttributeKey, SearchAttributeType, type SearchAttributePair } from '@temporalio/common';
import type { ChatStatus } from '../messages/chat-status';

export const ChatIdKey = defineSearchAttributeKey('ChatId', SearchAttributeType.KEYWORD);
export const OwnerIdKey = defineSearchAttributeKey('OwnerId', SearchAttributeType.KEYWORD);
export const RootChatIdKey = defineSearchAttributeKey('RootChatId', SearchAttributeType.KEYWORD);
export const ModelConfigIdKey = defineSearchAttributeKey('ModelConfigId', SearchAttributeType.KEYWORD);
/** The chat's status (a ChatStatus value), kept current by the turn workflow. */
export const ChatStatusKey = defineSearchAttributeKey('ChatStatus', SearchAttributeType.KEYWORD);

/**
 * Every chatd search attribute: what a Temporal server must have registered before chatd starts runs.
 * All are Keyword (SEARCH_ATTRIBUTE_DEFINITIONS relies on it; the type keeps it so).
 */
export const SEARCH_ATTRIBUTE_KEYS: ReadonlyArray<typeof ChatIdKey> = [
  ChatIdKey,
  OwnerIdKey,
  RootChatIdKey,
  ModelConfigIdKey,
  ChatStatusKey,
];

/** The attributes a chat's run starts with (a turn requested by the API, or a sub-agent's first turn). */
export function pendingTurnSearchAttributes(chat: {
  chatId: string;
  ownerId: string;
  rootChatId: string;
  modelConfigId: string;
}): SearchAttributePair[] {
  return [
    { key: ChatIdKey, value: chat.chatId },
    { key: OwnerIdKey, value: chat.ownerId },
    { key: RootChatIdKey, value: chat.rootChatId },
    { key: ModelConfigIdKey, value: chat.modelConfigId },
    { key: ChatStatusKey, value: 'pending' satisfies ChatStatus },
  ];
}

/** NAME=Type pairs, as `temporal server start-dev --search-attribute` takes them (all Keyword). */
export const SEARCH_ATTRIBUTE_DEFINITIONS: Record<string, 'Keyword'> = Object.fromEntries(
  SEARCH_ATTRIBUTE_KEYS.map((key) => [key.name, 'Keyword']),
);
