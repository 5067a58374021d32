/**
 * What every SSE stream of the API (GET /chats/{id}/stream, GET /chats/watch) holds besides its
 * events: one of its user's stream slots in this process, and a watch on the token it was opened
 * with. A stream whose token is revoked or expires gets a final `stream_end` event and is closed
 * (docs/stream-events.md "End of a stream").
 */
import type { Context } from 'koa';
import { RateLimitedError } from '../../errors';
import type { TokenAuthenticator, TokenEndReason } from '../../security/tokens';
import { credential } from '../middleware/auth';
import { SseWriter, type SseWriterOptions } from '../sse';

/** The name of the final event of a stream that the server ends on its own. Public API. */
export const STREAM_END_EVENT = 'stream_end';

export type StreamEndReason = TokenEndReason;

/** `stream_end` on a chat stream: the whole event object, as every chat stream event. */
export interface ChatStreamEnd {
  type: typeof STREAM_END_EVENT;
  chat_id: string;
  reason: StreamEndReason;
}

/** `stream_end` on the watch stream: `kind` as every watch event, but no `chat`. */
export interface WatchStreamEnd {
  kind: typeof STREAM_END_EVENT;
  reason: StreamEndReason;
}

/** Counts this process's open streams (the metrics' gauge, README "Operations"). */
export interface OpenStreamsGauge {
  inc(): void;
  dec(): void;
}

/** Open SSE streams per user in this process, each ended when its token stops being valid. */
export class StreamGuard {
  private readonly open = new Map<string, number>();

  constructor(
    private readonly tokens: TokenAuthenticator,
    /** Streams one user may hold open at once in this process; 0: unlimited. */
    private readonly maxPerUser: number,
    private readonly gauge?: OpenStreamsGauge,
  ) {}

  /**
   * Starts the caller's SSE response: takes one of their stream slots, or throws 429
   * `too_many_streams` (a JSON error, the response has not started); the slot is freed when the
   * stream closes. When the token the request authenticated with is revoked or expires, sends
   * `endEvent(reason)` as a final `stream_end` event and closes the stream.
   */
  start(ctx: Context, options: SseWriterOptions, endEvent: (reason: StreamEndReason) => unknown): SseWriter {
    const { token, live } = credential(ctx);
    const userId = live.userId;
    const held = this.open.get(userId) ?? 0;
    if (this.maxPerUser > 0 && held >= this.maxPerUser) {
      throw new RateLimitedError(
        'too_many_streams',
        `At most ${this.maxPerUser} streams may be open per user; close one (another tab) first.`,
        { limit: this.maxPerUser },
      );
    }
    this.open.set(userId, held + 1);
    const sse = new SseWriter(ctx, options);
    this.gauge?.inc();
    sse.onClose(() => {
      this.gauge?.dec();
      const left = (this.open.get(userId) ?? 1) - 1;
      if (left > 0) this.open.set(userId, left);
      else this.open.delete(userId);
    });
    const unwatch = this.tokens.watch(token, live, (reason) => sse.end(STREAM_END_EVENT, endEvent(reason)));
    sse.onClose(unwatch);
    return sse;
  }

  /** The streams `userId` holds open in this process. */
  openStreams(userId: string): number {
    return this.open.get(userId) ?? 0;
  }
}
