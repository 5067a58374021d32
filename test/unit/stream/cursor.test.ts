/** SSE ids: monotonic, integer, resumable from Last-Event-ID across turns and processes. */
import { EventIdSequence, parseEventId } from '../../../src/stream/cursor';

describe('EventIdSequence', () => {
  it('moves to a message id on message events and counts other events after it', () => {
    const ids = new EventIdSequence({ messageId: 0, counter: 0 });
    const a = ids.next();
    const b = ids.next(10);
    const c = ids.next();
    const d = ids.next(12);
    expect([a, b, c, d]).toEqual([1, 10 * 2 ** 20, 10 * 2 ** 20 + 1, 12 * 2 ** 20]);
  });

  it('never goes backwards for an older message id', () => {
    const ids = new EventIdSequence({ messageId: 50, counter: 3 });
    expect(ids.next(40)).toBe(50 * 2 ** 20 + 4);
  });

  it('continues after a resumed cursor', () => {
    const last = 7 * 2 ** 20 + 5;
    const ids = new EventIdSequence(parseEventId(String(last))!);
    expect(ids.next()).toBe(last + 1);
    expect(ids.lastMessageId).toBe(7);
  });
});

describe('parseEventId', () => {
  it.each(['', 'abc', '-1', '1.5', '99999999999999999999'])('rejects %p', (raw) =>
    expect(parseEventId(raw)).toBeUndefined(),
  );
  it('splits a valid id', () => expect(parseEventId(String(3 * 2 ** 20 + 9))).toEqual({ messageId: 3, counter: 9 }));
});
