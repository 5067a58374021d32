/**
 * The in-flight step of a chat: the `message_part` events streamed since the step began, which a
 * client joining mid-step gets as its partial. The producer numbers each step's parts
 * (`InFlightParts`); a process serving streams mirrors them (`InFlightMirror`), so every part
 * reaches its subscribers once and in order, and missing parts (a subscriber that joined mid-step,
 * a lost connection) are filled from the producer's copy instead of being guessed at.
 */
import type { InFlightPartial } from './bus';
import type { StreamEvent } from './events';

/** Parts kept per step; beyond this the oldest are dropped (a joining client sees a shorter partial). */
export const MAX_IN_FLIGHT = 10_000;

/**
 * Where a published event sits: a part's step and number within it, the step the event ended, or
 * `stale` for a late part of a turn an edit superseded (not to be delivered).
 */
export interface InFlightPosition {
  step?: string;
  seq?: number;
  ends?: string;
  stale?: boolean;
}

/** A producer's copy of a chat's in-flight step; `first` is the number of its oldest kept part. */
export interface StepCopy {
  step: string;
  first: number;
  parts: StreamEvent[];
}

/** The producer a step id belongs to (step ids are `<producer>.<n>`). */
function producerOf(step: string): string {
  return step.slice(0, step.lastIndexOf('.'));
}

/**
 * After these events nothing streamed so far is in flight: the parts were persisted (an assistant
 * or tool message), a retry or error discards them, a status change starts or ends a turn, and an
 * edit rewrites the history.
 */
function endsStep(event: StreamEvent): boolean {
  switch (event.type) {
    case 'message':
      return event.message.role === 'assistant' || event.message.role === 'tool';
    case 'retry':
    case 'error':
    case 'status':
    case 'history_truncated':
      return true;
    default:
      return false;
  }
}

/** Remembers the most recent ids of a kind (ended steps): old ones cannot come back in practice. */
class RecentIds {
  private readonly ids = new Set<string>();

  constructor(private readonly capacity: number) {}

  add(id: string): void {
    this.ids.add(id);
    if (this.ids.size > this.capacity) this.ids.delete(this.ids.values().next().value!);
  }

  has(id: string): boolean {
    return this.ids.has(id);
  }

  delete(id: string): void {
    this.ids.delete(id);
  }
}

/** The producer side: numbers the parts a process publishes, per chat, and keeps the open step's copy. */
export class InFlightParts {
  private readonly open = new Map<string, StepCopy>();
  /** Chats whose history an edit rewrote, until their next turn runs (bounded: API processes never see it run). */
  private readonly superseded = new RecentIds(10_000);
  private steps = 0;

  /** `producer` is unique per process, so step ids never collide across a fleet. */
  constructor(private readonly producer: string) {}

  /** Records an event being published: a part gets its position, an event that ends the step names it. */
  observe(chatId: string, event: StreamEvent): InFlightPosition {
    if (event.type === 'message_part') return this.add(chatId, event);
    // Parts between an edit and the next turn's start come from the step the edit interrupted.
    if (event.type === 'history_truncated') this.superseded.add(chatId);
    else if (event.type === 'status' && event.status === 'running') this.superseded.delete(chatId);
    const current = this.open.get(chatId);
    if (!current || !endsStep(event)) return {};
    this.open.delete(chatId);
    return { ends: current.step };
  }

  /** A copy of the chat's open step, or null when nothing is in flight here. */
  copy(chatId: string): StepCopy | null {
    const copy = this.open.get(chatId);
    return copy ? { ...copy, parts: [...copy.parts] } : null;
  }

  private add(chatId: string, part: StreamEvent): InFlightPosition {
    if (this.superseded.has(chatId)) return { stale: true };
    let copy = this.open.get(chatId);
    if (!copy) this.open.set(chatId, (copy = { step: `${this.producer}.${++this.steps}`, first: 0, parts: [] }));
    const seq = copy.first + copy.parts.length;
    copy.parts.push(part);
    if (copy.parts.length > MAX_IN_FLIGHT) {
      copy.parts.shift();
      copy.first += 1;
    }
    return { step: copy.step, seq };
  }
}

/** An event as it arrived, with its in-flight position (`event` is absent when only an end is known). */
export interface MirrorItem {
  event?: StreamEvent;
  step?: string;
  seq?: number;
  ends?: string;
}

/** A producer's answer to "what is in flight?": its open step (null: none) from part number `start`. */
export interface StepAnswer {
  producer: string;
  step: string | null;
  first: number;
  start: number;
  parts: StreamEvent[];
  /** The last batch of this answer (a long step takes several). */
  last: boolean;
}

export interface MirrorOutput {
  /** A live event, in order; `step` names the step of a `message_part`. */
  event(event: StreamEvent, step?: string): void;
  /** The in-flight step is over: its parts are no longer a partial. */
  stepEnded(step: string): void;
  /**
   * The mirror needs the producer's copy. While `waiting` it holds every event until an answer or
   * `giveUp()`; otherwise parts are missing and later ones of that step wait for an answer.
   */
  ask(waiting: boolean): void;
  /** The mirror stopped waiting: `current()` is now what a joining subscriber starts from. */
  settled(): void;
}

/**
 * The consumer side, one per chat per process: turns the parts that arrive (late, twice, or after
 * a gap) into an exact sequence. When it starts and after a reconnect it waits for the producer's
 * copy, holding every event so that a subscriber joining then starts from a complete partial. A
 * part that shows a gap (a lost connection, a dropped NOTIFY) is held with the later parts of its
 * step, and the copy is asked for again while they keep coming; other events flow meanwhile. A step
 * that ends with its gap unfilled is dropped: its message still arrives.
 */
export class InFlightMirror {
  private open: { step: string; parts: StreamEvent[]; next: number } | null = null;
  /** Parts that arrived after a gap, by number, with the step they belong to. */
  private gap: { step: string; parts: Map<number, StreamEvent> } | null = null;
  private readonly ended = new RecentIds(256);
  private waiting = true;
  private held: MirrorItem[] = [];

  /** Starts waiting (holding events) until `wait()`'s answer or `giveUp()`. */
  constructor(private readonly out: MirrorOutput) {}

  get isWaiting(): boolean {
    return this.waiting;
  }

  /** The open step's parts so far: the partial of a subscriber joining now. */
  current(): InFlightPartial {
    return this.open ? { step: this.open.step, parts: [...this.open.parts] } : { step: null, parts: [] };
  }

  /** Holds events until an answer or `giveUp()`; asks the producer unless `ask` is false. */
  wait(ask = true): void {
    this.waiting = true;
    if (ask) this.out.ask(true);
  }

  receive(item: MirrorItem): void {
    if (this.waiting) this.held.push(item);
    else this.apply(item);
  }

  answer(answer: StepAnswer): void {
    const open = this.open;
    if (answer.step !== open?.step) {
      // The producer has moved on from its step we still consider open: we missed its end.
      if (open && producerOf(open.step) === answer.producer) this.end(open.step);
      const gap = this.gap;
      if (gap && gap.step !== answer.step && producerOf(gap.step) === answer.producer) this.end(gap.step);
      if (answer.step !== null && !this.ended.has(answer.step) && answer.start === answer.first) {
        this.startStep(answer.step, answer.first);
      }
    }
    if (answer.step !== null && this.open?.step === answer.step) {
      answer.parts.forEach((part, i) => {
        if (answer.start + i === this.open?.next) this.deliverPart(part);
      });
      this.drainGap();
    }
    if (answer.last && this.waiting) this.settle();
  }

  /** Stops waiting without an answer: nothing unseen is assumed in flight. */
  giveUp(): void {
    if (this.waiting) this.settle();
  }

  private settle(): void {
    this.waiting = false;
    this.out.settled();
    const held = this.held;
    this.held = [];
    for (const item of held) this.apply(item);
  }

  private apply(item: MirrorItem): void {
    if (this.waiting) {
      this.held.push(item);
      return;
    }
    if (item.ends !== undefined) this.end(item.ends);
    const { event } = item;
    if (!event) return;
    // A retry, an error or an edit discards the partial, whichever process announced it.
    if (event.type === 'retry' || event.type === 'error' || event.type === 'history_truncated') {
      if (this.open) this.end(this.open.step);
      if (this.gap) this.end(this.gap.step);
    }
    if (event.type === 'message_part' && item.step !== undefined && item.seq !== undefined) {
      this.applyPart(event, item.step, item.seq);
      return;
    }
    this.out.event(event);
  }

  private applyPart(event: StreamEvent, step: string, seq: number): void {
    if (this.ended.has(step)) return;
    // A new step from its start; only one step of a chat streams at a time.
    if (this.open?.step !== step && seq === 0) this.startStep(step, 0);
    if (this.open?.step === step && seq < this.open.next) return; // delivered already (from an answer)
    if (this.open?.step === step && seq === this.open.next) {
      this.deliverPart(event);
      this.drainGap();
      return;
    }
    // Parts before this one are missing: keep it until an answer fills them in.
    if (this.gap?.step !== step) this.gap = { step, parts: new Map() };
    this.gap.parts.set(seq, event);
    if (this.gap.parts.size > MAX_IN_FLIGHT) this.end(step);
    else this.out.ask(false);
  }

  /** Delivers the parts held after a gap that the open step now reaches. */
  private drainGap(): void {
    const open = this.open;
    const gap = this.gap;
    if (!open || gap?.step !== open.step) return;
    for (let part = gap.parts.get(open.next); part; part = gap.parts.get(open.next)) {
      gap.parts.delete(open.next);
      this.deliverPart(part);
    }
    for (const seq of gap.parts.keys()) if (seq < open.next) gap.parts.delete(seq);
    if (gap.parts.size === 0) this.gap = null;
  }

  private startStep(step: string, first: number): void {
    if (this.open) this.end(this.open.step);
    if (this.gap && this.gap.step !== step) this.end(this.gap.step);
    this.open = { step, parts: [], next: first };
  }

  private deliverPart(event: StreamEvent): void {
    const open = this.open!;
    open.parts.push(event);
    if (open.parts.length > MAX_IN_FLIGHT) open.parts.shift();
    open.next += 1;
    this.out.event(event, open.step);
  }

  private end(step: string): void {
    this.ended.add(step);
    if (this.gap?.step === step) this.gap = null;
    if (this.open?.step !== step) return;
    this.open = null;
    this.out.stepEnded(step);
  }
}
