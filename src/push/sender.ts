/**
 * Sends one web push message with the `web-push` library: encrypts the payload to the subscription's
 * keys (aes128gcm, RFC 8291), signs the request with chatd's VAPID key (RFC 8292) and POSTs it to
 * the push service. The outcome is classified by the service's HTTP status, never by error text.
 */
import webpush from 'web-push';
import type { VapidDetails } from './keys';

/** Where to send: the browser's PushSubscription as stored. */
export interface PushTarget {
  endpoint: string;
  keys: { p256dh: string; auth: string };
}

export interface SendOptions {
  vapid: VapidDetails;
  /** Upper bound for the whole request, connection included. */
  timeoutMs: number;
  /** Seconds the push service keeps the message for an offline browser. */
  ttlSeconds: number;
  /**
   * Replaces a message with the same topic that the service has not delivered yet (at most 32
   * base64url characters), so an offline browser gets one notification per chat, the latest.
   */
  topic?: string;
}

/**
 * `delivered`: the service accepted the message. `gone`: the service answered 404 or 410, so the
 * subscription expired or was revoked and must be deleted. `failed`: anything else (other statuses,
 * network errors, the timeout); the subscription is kept.
 */
export type SendResult =
  | { kind: 'delivered'; statusCode: number }
  | { kind: 'gone'; statusCode: number }
  | { kind: 'failed'; statusCode: number | null; error: unknown };

/** Statuses with which a push service says the subscription no longer exists (RFC 8030, section 7.3). */
const GONE_STATUSES = new Set([404, 410]);

/** Sends `payload` to `target`. Never throws: failures are results. */
export async function sendPush(target: PushTarget, payload: string, options: SendOptions): Promise<SendResult> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${options.timeoutMs} ms`)), options.timeoutMs);
  });
  try {
    const sent = webpush.sendNotification(target, payload, {
      vapidDetails: options.vapid,
      contentEncoding: 'aes128gcm',
      TTL: options.ttlSeconds,
      urgency: 'normal',
      ...(options.topic ? { topic: options.topic } : {}),
      // The library's own limit is an idle-socket timeout; the race below bounds the whole request.
      timeout: options.timeoutMs,
    });
    // A request still running after the race was lost must not surface as an unhandled rejection.
    sent.catch(() => undefined);
    const result = await Promise.race([sent, timeout]);
    return { kind: 'delivered', statusCode: result.statusCode };
  } catch (err) {
    const statusCode = err instanceof webpush.WebPushError ? err.statusCode : null;
    if (statusCode !== null && GONE_STATUSES.has(statusCode)) return { kind: 'gone', statusCode };
    return { kind: 'failed', statusCode, error: err };
  } finally {
    clearTimeout(timer);
  }
}
