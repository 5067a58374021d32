/**
 * SSE event ids. An id packs the newest message id the client has (high bits) and a counter of
 * events since that message (low 20 bits): ids grow monotonically within a chat and across its
 * turns, and a reconnect's Last-Event-ID says exactly which persisted messages the client holds.
 * Message ids stay below 2^33, which keeps ids within JavaScript's safe integers.
 */
const LOW_BITS = 2 ** 20;

export interface StreamCursor {
  /** Newest message id delivered. */
  messageId: number;
  /** Events delivered since that message. */
  counter: number;
}

export function parseEventId(raw: string | undefined): StreamCursor | undefined {
  if (raw === undefined || !/^\d{1,16}$/.test(raw)) return undefined;
  const value = Number(raw);
  if (!Number.isSafeInteger(value)) return undefined;
  return { messageId: Math.floor(value / LOW_BITS), counter: value % LOW_BITS };
}

/** Assigns ids to outgoing events, continuing after the client's cursor. */
export class EventIdSequence {
  private messageId: number;
  private counter: number;

  constructor(start: StreamCursor) {
    this.messageId = start.messageId;
    this.counter = start.counter;
  }

  get lastMessageId(): number {
    return this.messageId;
  }

  /** The id of a `message` event (moves the cursor) or of any other event (bumps the counter). */
  next(messageId?: number): number {
    if (messageId !== undefined && messageId > this.messageId) {
      this.messageId = messageId;
      this.counter = 0;
    } else if (this.counter < LOW_BITS - 1) {
      this.counter += 1;
    } else {
      // Over a million events since the last message: keep ids unique by borrowing the next id slot.
      this.messageId += 1;
      this.counter = 0;
    }
    return this.messageId * LOW_BITS + this.counter;
  }
}
