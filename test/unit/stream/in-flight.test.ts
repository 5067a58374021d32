/**
 * The in-flight step's numbering and mirroring, without a database: the producer numbers a step's
 * parts and says which event ended it; a serving process's mirror turns whatever arrives (parts
 * twice, late, after a gap, an answer from the producer) into each part once, in order, so a
 * joining client's partial plus what it gets live is exactly the step's text.
 */
import type { StreamEvent } from '../../../src/stream/events';
import {
  InFlightMirror,
  InFlightParts,
  type InFlightPosition,
  type MirrorItem,
  type StepAnswer,
} from '../../../src/stream/in-flight';

const CHAT = 'c';
const part = (text: string): StreamEvent => ({
  type: 'message_part',
  chat_id: CHAT,
  role: 'assistant',
  part: { type: 'text', text },
});
const assistantMessage: StreamEvent = {
  type: 'message',
  chat_id: CHAT,
  message: { id: 7, role: 'assistant' } as never,
};
const textOf = (event: StreamEvent | undefined): string =>
  event?.type === 'message_part' ? (event.part.text ?? '') : `<${event?.type}>`;

/** A mirror wired to a recording output; `asks` counts requests for the producer's copy. */
function mirror() {
  const seen: string[] = [];
  const asks: boolean[] = [];
  let settled = 0;
  const m = new InFlightMirror({
    event: (event) => seen.push(textOf(event)),
    stepEnded: (step) => seen.push(`end ${step}`),
    ask: (waiting) => asks.push(waiting),
    settled: () => (settled += 1),
  });
  return { m, seen, asks, settled: () => settled };
}

/** What a producer sends: its numbering, applied to a script of events. */
function produce(events: StreamEvent[], producer = new InFlightParts('p')): Array<MirrorItem & InFlightPosition> {
  return events.map((event) => ({ event, ...producer.observe(CHAT, event) }));
}

const answer = (step: string | null, parts: string[], start = 0, last = true): StepAnswer => ({
  producer: 'p',
  step,
  first: 0,
  start,
  parts: parts.map(part),
  last,
});

describe('InFlightParts', () => {
  it('numbers the parts of a step and names the step the persisted message ends', () => {
    const items = produce([part('a'), part('b'), assistantMessage, part('c')]);
    expect(items.map(({ step, seq, ends }) => ({ step, seq, ends }))).toEqual([
      { step: 'p.1', seq: 0, ends: undefined },
      { step: 'p.1', seq: 1, ends: undefined },
      { step: undefined, seq: undefined, ends: 'p.1' },
      { step: 'p.2', seq: 0, ends: undefined },
    ]);
  });

  it.each<[string, StreamEvent]>([
    ['a retry starts', { type: 'retry', chat_id: CHAT, attempt: 2, delay_ms: 1, retrying_at: '', error: {} as never }],
    ['a status changes', { type: 'status', chat_id: CHAT, status: 'waiting' }],
    ['a tool result is stored', { type: 'message', chat_id: CHAT, message: { id: 3, role: 'tool' } as never }],
  ])('ends the step when %s', (_when, event) => {
    const producer = new InFlightParts('p');
    produce([part('a'), event], producer);
    expect(producer.copy(CHAT)).toBeNull();
  });

  it('keeps the step across a user message and a title change', () => {
    const producer = new InFlightParts('p');
    produce(
      [
        part('a'),
        { type: 'message', chat_id: CHAT, message: { id: 2, role: 'user' } as never },
        { type: 'title_change', chat_id: CHAT, title: 't' },
      ],
      producer,
    );
    expect(producer.copy(CHAT)?.parts.map(textOf)).toEqual(['a']);
  });

  it('marks late parts of a step an edit superseded, until the next turn runs', () => {
    const items = produce([
      part('old'),
      { type: 'history_truncated', chat_id: CHAT, from_message_id: 1 },
      part('late'),
      { type: 'status', chat_id: CHAT, status: 'running' },
      part('new'),
    ]);
    expect(items.map((i) => i.stale ?? false)).toEqual([false, false, true, false, false]);
    expect(items[4]).toMatchObject({ step: 'p.2', seq: 0 });
  });
});

describe('InFlightMirror', () => {
  it('delivers each part once and in order when it starts with nothing in flight', () => {
    const { m, seen } = mirror();
    m.giveUp();
    const items = produce([part('a'), part('b'), assistantMessage]);
    for (const item of [items[0]!, items[0]!, items[1]!, items[2]!]) m.receive(item);
    expect(seen).toEqual(['a', 'b', 'end p.1', '<message>']);
    expect(m.current()).toEqual({ step: null, parts: [] });
  });

  it('holds what arrives while waiting and merges the producer’s copy without repeating a part', () => {
    const { m, seen, asks, settled } = mirror();
    m.wait();
    expect(asks).toEqual([true]);
    // Joined mid-step: parts 0-1 were sent before it listened, 2-3 arrive before the answer.
    const items = produce([part('a'), part('b'), part('c'), part('d'), part('e')]);
    m.receive(items[2]!);
    m.receive({ event: { type: 'status', chat_id: CHAT, status: 'running' } });
    m.receive(items[3]!);
    expect(seen).toEqual([]);
    m.answer(answer('p.1', ['a', 'b', 'c', 'd']));
    m.receive(items[4]!);
    expect(settled()).toBe(1);
    expect(seen).toEqual(['a', 'b', 'c', 'd', '<status>', 'e']);
    expect(m.current().parts.map(textOf)).toEqual(['a', 'b', 'c', 'd', 'e']);
  });

  it('merges an answer that comes in several batches', () => {
    const { m, seen } = mirror();
    m.wait();
    m.answer(answer('p.1', ['a', 'b'], 0, false));
    expect(m.isWaiting).toBe(true);
    m.answer(answer('p.1', ['c'], 2, true));
    expect(m.isWaiting).toBe(false);
    expect(seen).toEqual(['a', 'b', 'c']);
  });

  it('fills a gap from the producer’s copy while other events keep flowing', () => {
    const { m, seen, asks } = mirror();
    m.giveUp();
    const items = produce([part('a'), part('b'), part('c'), part('d')]);
    m.receive(items[0]!);
    // Parts 1 and 2 were lost (the connection dropped).
    m.receive(items[3]!);
    m.receive({ event: { type: 'title_change', chat_id: CHAT, title: 't' } });
    expect(asks).toEqual([false]);
    expect(seen).toEqual(['a', '<title_change>']);
    m.answer(answer('p.1', ['a', 'b', 'c', 'd']));
    expect(seen).toEqual(['a', '<title_change>', 'b', 'c', 'd']);
  });

  it('drops the rest of a step whose gap is never filled, and still delivers its message', () => {
    const { m, seen } = mirror();
    m.giveUp();
    const items = produce([part('a'), part('b'), part('c'), assistantMessage, part('next')]);
    m.receive(items[0]!);
    m.receive(items[2]!);
    m.receive(items[3]!);
    m.receive(items[4]!);
    expect(seen).toEqual(['a', 'end p.1', '<message>', 'next']);
  });

  it('starts from a step whose beginning it missed once the producer answers, after giving up a wait', () => {
    const { m, seen } = mirror();
    m.wait();
    m.giveUp();
    const items = produce([part('a'), part('b'), part('c')]);
    m.receive(items[1]!);
    m.receive(items[2]!);
    expect(seen).toEqual([]);
    m.answer(answer('p.1', ['a', 'b']));
    expect(seen).toEqual(['a', 'b', 'c']);
  });

  it('ends a step the producer says is over (its end was missed)', () => {
    const { m, seen } = mirror();
    m.giveUp();
    m.receive(produce([part('a')])[0]!);
    m.wait();
    m.answer(answer(null, []));
    expect(seen).toEqual(['a', 'end p.1']);
    expect(m.current().step).toBeNull();
  });

  it.each<[string, StreamEvent]>([
    ['a retry', { type: 'retry', chat_id: CHAT, attempt: 2, delay_ms: 1, retrying_at: '', error: {} as never }],
    ['an edit', { type: 'history_truncated', chat_id: CHAT, from_message_id: 1 }],
  ])('ends the step on %s from any process and drops its late parts', (_what, event) => {
    const { m, seen } = mirror();
    m.giveUp();
    const items = produce([part('a'), part('b')]);
    m.receive(items[0]!);
    m.receive({ event });
    m.receive(items[1]!);
    expect(seen).toEqual(['a', 'end p.1', `<${event.type}>`]);
  });

  it('lets a new step replace one whose producer died without ending it', () => {
    const { m, seen } = mirror();
    m.giveUp();
    m.receive(produce([part('dead')], new InFlightParts('q'))[0]!);
    m.receive(produce([part('retried')], new InFlightParts('p'))[0]!);
    expect(seen).toEqual(['dead', 'end q.1', 'retried']);
    expect(m.current()).toEqual({ step: 'p.1', parts: [part('retried')] });
  });
});
