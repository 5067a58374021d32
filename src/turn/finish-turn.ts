/**
 * The end of a turn: under the chat's row lock, hand the chat back (or mark it failed), promote the
 * next queued message, publish the result and wake a parent chat. The turn workflow calls it through
 * the finishTurn activity with how the run ended.
 */
import type { Transaction } from 'kysely';
import {
  endTurnIfNothingQueued,
  type EndedTurn,
  endTurnPromotingQueued,
  lockChatReadingUnread,
  updateChat,
} from '../db/repositories/chats.repository';
import { insertMessages, listQueuedMessages } from '../db/repositories/messages.repository';
import type { ChatMessageRow, ChatRow, Database } from '../db/database';
import { releaseSlot } from '../db/repositories/turn-slots.repository';
import { isBusy, type ChatStatus } from '../messages/chat-status';
import type { ErrorPayload } from '../messages/error-payload';
import { toQueuedDto, toWatchChat } from '../messages/dto';
import { messageEvent, statusEvent } from '../stream/bus';
import { messageRow } from '../messages/rows';
import type { TurnDeps, TurnOutcome } from './deps';

/** Defined beside TurnDeps (its turn-end hook reports it); workflows import it from here (type-only). */
export type { TurnOutcome } from './deps';

export interface FinishInput {
  chatId: string;
  turn: number;
  outcome: TurnOutcome;
  /** The classified failure when `outcome` is `failed`. */
  error: ErrorPayload | null;
}

/**
 * Ends a turn under the chat's row lock: `waiting` (success or interrupt) promotes the oldest queued
 * message into the next turn; `error` keeps the queue. Returns the turn to run next, if any.
 */
export async function finishTurn(deps: TurnDeps, input: FinishInput): Promise<TurnEnd> {
  const outcome = (input.outcome !== 'failed' && (await endWithoutLock(deps, input))) || (await endLocked(deps, input));
  return announceTurnEnd(deps, input, outcome);
}

/** What the workflow learns from a turn's end: the turn to run next, and the chat's status (null: not this turn's). */
export interface TurnEnd {
  nextTurn: number | null;
  status: ChatStatus | null;
}

/**
 * Ends a completed turn inside the caller's transaction, which already holds the chat's row lock (the
 * final model step's write took it): one statement when nothing is queued, the locked path otherwise.
 * Announce the result with announceTurnEnd once the transaction committed.
 */
export async function endTurnInTransaction(trx: Transaction<Database>, input: FinishInput): Promise<Ended | null> {
  const fast = await endTurnIfNothingQueued(trx, input.chatId, input.turn);
  if (fast) return endedOf(fast);
  return endLockedIn(trx, input);
}

/** After the end committed: metrics, the woken waiter, the stream and watch events, the hook, the parent chat. */
export async function announceTurnEnd(deps: TurnDeps, input: FinishInput, outcome: Ended | null): Promise<TurnEnd> {
  const { db, bus } = deps;
  if (!outcome) return { nextTurn: null, status: null };
  deps.metrics?.turnFinished({ chatId: input.chatId, turn: input.turn }, input.outcome);
  if (outcome.wake) await deps.wakeQueuedTurn?.(outcome.wake);

  const { chat } = outcome;
  if (outcome.promoted) {
    bus.publish(chat.id, messageEvent(outcome.promoted));
    const queue = await listQueuedMessages(db, chat.id);
    bus.publish(chat.id, { type: 'queue_update', chat_id: chat.id, queued_messages: queue.map(toQueuedDto) });
  }
  if (chat.turn === input.turn || outcome.promoted) {
    if (chat.status === 'error' && input.error)
      bus.publish(chat.id, { type: 'error', chat_id: chat.id, ...input.error });
    bus.publish(chat.id, statusEvent(chat));
    // has_unread tells the owner's other views that the turn's answer is waiting to be read.
    bus.publishWatch(chat.owner_id, {
      kind: 'status_change',
      chat: { ...toWatchChat(chat), has_unread: outcome.hasUnread },
    });
  }
  if (chat.turn === input.turn) reportTurnEnded(deps, chat, input);
  if (chat.parent_chat_id && (chat.status === 'waiting' || chat.status === 'error') && chat.turn === input.turn) {
    await deps
      .notifySubagentFinished?.(chat.parent_chat_id, chat.id)
      .catch((err: unknown) => deps.log.warn({ err, chatId: chat.id }, 'could not notify the parent chat'));
  }
  return { nextTurn: outcome.next, status: chat.turn === input.turn || outcome.promoted ? chat.status : null };
}

/** How a turn's end left the chat: the turn to run next, the queued message promoted into it, the unread flag. */
export interface Ended {
  chat: ChatRow;
  next: number | null;
  promoted: ChatMessageRow | null;
  hasUnread: boolean;
  /** The owner's turn waiting for the running-turn slot this chat gave back. */
  wake: string | null;
}

/** The usual end (nothing queued, not archived, still the turn): one statement, no transaction. */
async function endWithoutLock(deps: TurnDeps, input: FinishInput): Promise<Ended | null> {
  const ended = await endTurnIfNothingQueued(deps.db, input.chatId, input.turn);
  return ended ? endedOf(ended) : null;
}

function endedOf(ended: EndedTurn): Ended {
  const { has_unread: hasUnread, next_waiting_chat_id: wake, ...chat } = ended;
  return { chat, next: null, promoted: null, hasUnread, wake };
}

/** Every other end, under the chat's row lock. */
function endLocked(deps: TurnDeps, input: FinishInput): Promise<Ended | null> {
  return deps.db.transaction().execute((trx) => endLockedIn(trx, input));
}

async function endLockedIn(trx: Transaction<Database>, input: FinishInput): Promise<Ended | null> {
  const ended = await endTurn(trx, input);
  if (!ended) return null;
  // A chat going idle gives its running-turn slot (or its place in the queue) back.
  const { before } = ended;
  const frees = !isBusy(ended.chat.status) && (before.holds_turn_slot || before.awaiting_slot_since !== null);
  const wake = frees ? (await releaseSlot(trx, before)).nextWaitingChatId : null;
  return { ...ended, wake };
}

/**
 * Hands the committed end of the turn to the best-effort hook (web push). The hook only starts its
 * work, so this neither waits nor fails the turn; a hook that throws anyway is logged.
 */
function reportTurnEnded(deps: TurnDeps, chat: ChatRow, input: FinishInput): void {
  try {
    deps.onTurnEnded?.({
      chatId: chat.id,
      ownerId: chat.owner_id,
      parentChatId: chat.parent_chat_id,
      archived: chat.archived,
      title: chat.title,
      turn: input.turn,
      outcome: input.outcome,
      status: chat.status,
      lastError: chat.last_error,
    });
  } catch (err) {
    deps.log.warn({ err, chatId: chat.id }, 'the turn-end hook failed');
  }
}

/**
 * The turn's end under the chat's row lock: `before` is the row as locked, `chat` as the turn leaves it,
 * `next` the turn to run next, `promoted` the queued message that became its user message.
 */
async function endTurn(trx: Transaction<Database>, input: FinishInput) {
  // The unread flag is read under the lock, in the same statement: nothing to fail after the commit.
  const locked = await lockChatReadingUnread(trx, input.chatId);
  if (!locked) return null;
  const { has_unread: hasUnread, ...chat } = locked;
  // Superseded (edit) or already handed on: only report a newer pending turn.
  if (chat.turn !== input.turn) {
    return { before: chat, chat, next: chat.status === 'pending' ? chat.turn : null, promoted: null, hasUnread: false };
  }
  // A user interrupt already wrote `waiting`; it wins over a failure that raced it.
  const failed = input.outcome === 'failed' && chat.status !== 'waiting';
  // An archived chat keeps its queue: archiving stops the chat, it must not start the next turn.
  if (failed || chat.archived) {
    const updated = await updateChat(trx, chat.id, {
      status: failed ? 'error' : 'waiting',
      last_error: failed ? (input.error?.message ?? 'The agent failed.') : null,
      last_error_kind: failed ? (input.error?.kind ?? 'generic') : null,
    });
    return { before: chat, chat: updated, next: null, promoted: null, hasUnread };
  }
  const { chat: updated, promotedContent } = await endTurnPromotingQueued(trx, chat.id);
  if (promotedContent === null) return { before: chat, chat: updated, next: null, promoted: null, hasUnread };
  const [message] = await insertMessages(trx, [
    messageRow({
      chatId: chat.id,
      turn: updated.turn,
      role: 'user',
      content: JSON.stringify(promotedContent),
      // The model the promoted message was queued with, if it named one (endTurnPromotingQueued set it).
      modelConfigId: updated.last_model_config_id,
      createdBy: chat.owner_id,
    }),
  ]);
  return { before: chat, chat: updated, next: updated.turn, promoted: message ?? null, hasUnread };
}
