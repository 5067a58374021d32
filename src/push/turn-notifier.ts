/**
 * Web push at the end of a turn, in the worker. finishTurn reports each committed turn end through
 * its `onTurnEnded` hook; when the rules of turn-payload.ts call for a push, this sends one to every
 * live subscription of the chat's owner. The work runs in the background after the commit: it never
 * holds up or fails the finishTurn activity, each send is bounded by a timeout, failures are logged,
 * and subscriptions the push service reports gone are deleted. Sending in the activity's process
 * rather than in an activity of its own keeps the workflow's history unchanged.
 */
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { Database, PushSubscriptionRow } from '../db/database';
import { listVisibleMessagesPage } from '../db/repositories/messages.repository';
import {
  deleteGonePushSubscription,
  listLivePushSubscriptions,
} from '../db/repositories/push-subscriptions.repository';
import { decodeParts } from '../messages/parts';
import type { TurnEnded } from '../turn/deps';
import type { VapidDetails } from './keys';
import { sendPush } from './sender';
import { answerText, shouldPushTurnEnd, turnPushPayload } from './turn-payload';

/** How long one push service may take to accept a message. */
export const PUSH_TIMEOUT_MS = 10_000;
/** How long a push service keeps an undelivered message: a turn's result is old news after a day. */
export const PUSH_TTL_SECONDS = 24 * 60 * 60;
/** Recent messages searched for the turn's last answer text (a turn ends with its answer or near it). */
const ANSWER_LOOKBACK = 20;

export interface TurnPushNotifierOptions {
  db: Kysely<Database>;
  log: Logger;
  vapid: VapidDetails;
  timeoutMs?: number;
}

/** Sends the turn-end pushes of one worker process; `close()` waits for those still under way. */
export class TurnPushNotifier {
  private readonly inFlight = new Set<Promise<void>>();

  constructor(private readonly options: TurnPushNotifierOptions) {}

  /**
   * The `onTurnEnded` hook: starts the pushes a turn's end calls for and returns at once. Never throws.
   */
  turnEnded(ended: TurnEnded): void {
    if (!shouldPushTurnEnd(ended)) return;
    const task: Promise<void> = this.deliver(ended)
      .catch((err: unknown) => this.options.log.warn({ err, chatId: ended.chatId }, 'web push failed'))
      .finally(() => this.inFlight.delete(task));
    this.inFlight.add(task);
  }

  /** Resolves once every push started so far has finished (each is bounded by the send timeout). */
  async close(): Promise<void> {
    await Promise.allSettled([...this.inFlight]);
  }

  private async deliver(ended: TurnEnded): Promise<void> {
    const { db } = this.options;
    const subscriptions = await listLivePushSubscriptions(db, ended.ownerId);
    if (subscriptions.length === 0) return;
    const payload = JSON.stringify(turnPushPayload(ended, await this.lastAnswer(ended)));
    await Promise.all(subscriptions.map((sub) => this.sendTo(sub, payload, ended)));
  }

  /** The text of the newest assistant message of the turn that has any, or '' when there is none. */
  private async lastAnswer(ended: TurnEnded): Promise<string> {
    const { rows } = await listVisibleMessagesPage(this.options.db, ended.chatId, { limit: ANSWER_LOOKBACK });
    for (const row of rows) {
      if (row.turn !== null && row.turn < ended.turn) break;
      if (row.role !== 'assistant' || row.turn !== ended.turn) continue;
      const text = answerText(decodeParts(row.content)).trim();
      if (text) return text;
    }
    return '';
  }

  private async sendTo(sub: PushSubscriptionRow, payload: string, ended: TurnEnded): Promise<void> {
    const { db, log, vapid } = this.options;
    const result = await sendPush({ endpoint: sub.endpoint, keys: { p256dh: sub.p256dh, auth: sub.auth } }, payload, {
      vapid,
      timeoutMs: this.options.timeoutMs ?? PUSH_TIMEOUT_MS,
      ttlSeconds: PUSH_TTL_SECONDS,
      // A chat id without its dashes: 32 characters of the base64url alphabet, as topics must be.
      topic: ended.chatId.replace(/-/g, ''),
    });
    // The endpoint is a bearer capability for the browser: log only where it points.
    const service = new URL(sub.endpoint).origin;
    if (result.kind === 'gone') {
      await deleteGonePushSubscription(db, sub.id);
      log.info({ subscriptionId: sub.id, service, statusCode: result.statusCode }, 'deleted a gone push subscription');
    } else if (result.kind === 'failed') {
      // Not the error object itself: the library's error carries the endpoint.
      const reason = result.error instanceof Error ? result.error.message : String(result.error);
      log.warn(
        { reason, subscriptionId: sub.id, service, statusCode: result.statusCode, chatId: ended.chatId },
        'web push not delivered',
      );
    }
  }
}
