/**
 * chatd's custom search attributes, so operators can find a chat's turns in the Temporal UI
 * (`ChatId = "…"`, `OwnerId = "…"`). Registered on the dev server at start; production clusters
 * register them once with `temporal operator search-attribute create` (see README).
 */
import { defineSearchAttributeKey, SearchAttributeType, type SearchAttributePair } from '@temporalio/common';

export const ChatIdKey = defineSearchAttributeKey('ChatId', SearchAttributeType.KEYWORD);
export const OwnerIdKey = defineSearchAttributeKey('OwnerId', SearchAttributeType.KEYWORD);
export const RootChatIdKey = defineSearchAttributeKey('RootChatId', SearchAttributeType.KEYWORD);
export const ModelConfigIdKey = defineSearchAttributeKey('ModelConfigId', SearchAttributeType.KEYWORD);
export const ChatStatusKey = defineSearchAttributeKey('ChatStatus', SearchAttributeType.KEYWORD);

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
    { key: ChatStatusKey, value: 'pending' },
  ];
}

/** NAME=Type pairs, as `temporal server start-dev --search-attribute` takes them. */
export const SEARCH_ATTRIBUTE_DEFINITIONS: Record<string, 'Keyword'> = {
  ChatId: 'Keyword',
  OwnerId: 'Keyword',
  RootChatId: 'Keyword',
  ModelConfigId: 'Keyword',
  ChatStatus: 'Keyword',
};
