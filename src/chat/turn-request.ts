/**
 * Asking the orchestrator for a chat's current turn on behalf of the chat service: a request Temporal
 * does not take fails the API call with 503 (the caller's transaction rolls back).
 */
import type { Logger } from 'pino';
import type { ChatRow } from '../db/database';
import { DependencyUnavailableError } from '../errors';
import type { TurnLauncher, TurnRequest } from './turn-launcher';

/**
 * Requests turn `chat.turn`. With `early`, the turn is a user's message the API starts: its first model
 * step may start in this process once the caller commits and calls `turns.turnCommitted` with the
 * returned request.
 */
export async function requestTurnOrFail(
  deps: { turns: TurnLauncher; log: Logger },
  chat: ChatRow,
  early = false,
): Promise<TurnRequest> {
  const request: TurnRequest = {
    chatId: chat.id,
    turn: chat.turn,
    ownerId: chat.owner_id,
    rootChatId: chat.root_chat_id ?? chat.id,
    modelConfigId: chat.last_model_config_id,
    ...(early ? { early } : {}),
  };
  try {
    await deps.turns.requestTurn(request);
  } catch (err) {
    deps.log.error({ err, chatId: chat.id }, 'could not start the chat turn');
    throw new DependencyUnavailableError('The workflow service');
  }
  return request;
}
