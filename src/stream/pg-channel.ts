/**
 * One chat's live stream in a process of the PostgreSQL stream bus: the LISTEN on the chat's event
 * channel, the mirror of its in-flight step, and the subscribers that share them. Created and closed
 * by pg-stream-bus.ts, which gives it a `ChannelHost` for what it needs from the bus.
 */
import type { Logger } from 'pino';
import type { InFlightPartial, LiveHandler, PartialSubscription, Unsubscribe } from './bus';
import type { StreamEvent } from './events';
import { InFlightMirror, type MirrorItem, type StepAnswer } from './in-flight';
import { eventChannel, type Wire } from './pg-wire-format';

/**
 * How long delivery waits for a producer's copy of the in-flight step. A producer answers within a
 * round trip; no answer means nobody is streaming the chat (or its worker died: the retry starts a
 * new step). Correctness does not depend on it: a part that shows a gap later is asked for again.
 */
const ANSWER_WAIT_MS = 1000;

/** What a chat channel needs from its bus. */
export interface ChannelHost {
  listen(channel: string, handler: (wire: Wire) => void): { off: Unsubscribe; live: Promise<void> };
  requestCopy(chatId: string): void;
  loadMessage(id: number): Promise<StreamEvent | null>;
  loadQueue(chatId: string): Promise<StreamEvent>;
  log: Logger;
}

type Inbound = { item: MirrorItem } | { answer: StepAnswer } | null;

/**
 * One chat's live stream in this process, shared by all its subscribers: one LISTEN, one mirror of
 * the in-flight step, and one request for the producer's copy however many subscribers join at once.
 */
export class ChatChannel {
  private readonly mirror: InFlightMirror;
  private readonly live = new Set<LiveHandler>();
  /** Subscribers waiting for their partial until the mirror stops waiting. */
  private readonly joining = new Map<LiveHandler, (partial: InFlightPartial) => void>();
  private readonly off: Unsubscribe;
  private listening = false;
  /** A subscriber said no step can be in flight: do not wait for an answer once listening. */
  private settleOnListen = false;
  private timer: NodeJS.Timeout | null = null;
  private askedAt = 0;
  private closed = false;
  /** Events queued behind one that is still being loaded from the database, so order holds. */
  private queued = 0;
  private tail: Promise<void> = Promise.resolve();

  constructor(
    private readonly host: ChannelHost,
    private readonly chatId: string,
    private readonly onEmpty: () => void,
  ) {
    this.mirror = new InFlightMirror({
      event: (event, step) => this.each((handler) => handler.event(event, step)),
      stepEnded: (step) => this.each((handler) => handler.stepEnded?.(step)),
      ask: (waiting) => this.ask(waiting),
      settled: () => this.admit(),
    });
    const sub = host.listen(eventChannel(chatId), (wire) => this.receive(wire));
    this.off = sub.off;
    // A failed LISTEN is retried by the reconnect, which calls startedListening(true).
    sub.live.then(
      () => this.startedListening(false),
      () => undefined,
    );
  }

  join(handler: LiveHandler): PartialSubscription {
    let resolve!: (partial: InFlightPartial) => void;
    const partial = new Promise<InFlightPartial>((r) => (resolve = r));
    if (this.mirror.isWaiting) {
      this.joining.set(handler, resolve);
    } else {
      this.live.add(handler);
      resolve(this.mirror.current());
    }
    return { partial, settle: () => this.settle(), unsubscribe: () => this.leave(handler) };
  }

  /** Listening (again): ask for the in-flight step; after a loss, subscribers re-read what they may have missed. */
  startedListening(afterLoss: boolean): void {
    if (this.closed) return;
    this.listening = true;
    if (this.settleOnListen && !afterLoss) this.mirror.giveUp();
    else this.mirror.wait();
    if (afterLoss) this.each((handler) => handler.resync?.());
  }

  /** The LISTEN connection dropped: hold everything until it is back and the producer has answered. */
  connectionLost(): void {
    this.listening = false;
    this.clearTimer();
    this.mirror.wait(false);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.clearTimer();
    for (const resolve of this.joining.values()) resolve({ step: null, parts: [] });
    this.joining.clear();
    this.off();
    this.onEmpty();
  }

  private receive(wire: Wire): void {
    switch (wire.k) {
      case 'e':
        this.enqueue({ item: { event: wire.e, step: wire.p, seq: wire.s, ends: wire.end } });
        return;
      case 'msg':
        this.enqueue(this.load(this.host.loadMessage(wire.id)).then((event) => ({ item: { event, ends: wire.end } })));
        return;
      case 'queue':
        this.enqueue(this.load(this.host.loadQueue(this.chatId)).then((event) => (event ? { item: { event } } : null)));
        return;
      case 'snap':
        this.enqueue({
          answer: { producer: wire.o, step: wire.p, first: wire.f, start: wire.s, parts: wire.e, last: wire.last },
        });
        return;
      default:
    }
  }

  private load(event: Promise<StreamEvent | null>): Promise<StreamEvent | undefined> {
    return event.then(
      (loaded) => loaded ?? undefined,
      (err: unknown) => {
        this.host.log.warn({ err, chatId: this.chatId }, 'stream event could not be loaded');
        return undefined;
      },
    );
  }

  /** Handles an inbound message now, or after the loads queued before it. */
  private enqueue(inbound: Inbound | Promise<Inbound>): void {
    if (this.queued === 0 && !(inbound instanceof Promise)) {
      this.handle(inbound);
      return;
    }
    this.queued += 1;
    this.tail = this.tail.then(async () => {
      try {
        this.handle(await inbound);
      } finally {
        this.queued -= 1;
      }
    });
  }

  private handle(inbound: Inbound): void {
    if (!inbound || this.closed) return;
    if ('answer' in inbound) this.mirror.answer(inbound.answer);
    else this.mirror.receive(inbound.item);
  }

  /**
   * Asks the producer for its copy. A wait gives up after ANSWER_WAIT_MS; a gap asks again at most
   * that often, as long as parts after it keep coming.
   */
  private ask(waiting: boolean): void {
    const now = Date.now();
    if (!waiting && now - this.askedAt < ANSWER_WAIT_MS) return;
    this.askedAt = now;
    this.host.requestCopy(this.chatId);
    if (!waiting) return;
    this.clearTimer();
    this.timer = setTimeout(() => {
      this.timer = null;
      this.mirror.giveUp();
    }, ANSWER_WAIT_MS);
  }

  /** The mirror stopped waiting: the subscribers that joined meanwhile start from its partial. */
  private admit(): void {
    this.clearTimer();
    for (const [handler, resolve] of this.joining) {
      this.live.add(handler);
      resolve(this.mirror.current());
    }
    this.joining.clear();
  }

  private settle(): void {
    if (this.listening) this.mirror.giveUp();
    else this.settleOnListen = true;
  }

  private leave(handler: LiveHandler): void {
    this.live.delete(handler);
    this.joining.get(handler)?.({ step: null, parts: [] });
    this.joining.delete(handler);
    if (this.live.size === 0 && this.joining.size === 0) this.close();
  }

  private each(call: (handler: LiveHandler) => void): void {
    for (const handler of [...this.live]) {
      try {
        call(handler);
      } catch (err) {
        this.host.log.warn({ err }, 'stream subscriber failed');
      }
    }
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}
