/**
 * The chat listing cursor (encodeChatCursor / decodeChatCursor): it round-trips the whole sort key
 * (pin order, updated_at, id), reads a cursor from before pins existed as a key among the unpinned
 * chats, and rejects anything else as `invalid_cursor`.
 */
import { decodeChatCursor, encodeChatCursor, MAX_PIN_ORDER } from '../../../src/chat/chat-list';
import { ValidationError } from '../../../src/errors';

const id = '3f2b8c1e-7a4d-4e6f-9b1a-2c3d4e5f6a7b';
const updatedAt = '2026-12-04T14:00:00.123456Z';
const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

function rejects(cursor: string): void {
  let error: unknown;
  try {
    decodeChatCursor(cursor);
  } catch (err) {
    error = err;
  }
  expect(error).toBeInstanceOf(ValidationError);
  expect((error as ValidationError).code).toBe('invalid_cursor');
}

describe('chat listing cursor', () => {
  it.each([0, 1, 7, MAX_PIN_ORDER])('round-trips a key with pin order %i', (pinOrder) => {
    const key = { pinOrder, updatedAt, id };
    expect(decodeChatCursor(encodeChatCursor(key))).toEqual(key);
  });

  it('is opaque base64url JSON', () => {
    expect(encodeChatCursor({ pinOrder: 2, updatedAt, id })).toMatch(/^[A-Za-z0-9_-]+$/);
  });

  it('reads a cursor without a pin order (issued before pins existed) as one among the unpinned chats', () => {
    expect(decodeChatCursor(encode({ u: updatedAt, i: id }))).toEqual({ pinOrder: 0, updatedAt, id });
  });

  it.each([
    ['a negative pin order', { p: -1, u: updatedAt, i: id }],
    ['a fractional pin order', { p: 1.5, u: updatedAt, i: id }],
    ['a pin order as a string', { p: '1', u: updatedAt, i: id }],
    ['a null pin order', { p: null, u: updatedAt, i: id }],
    ['a pin order beyond PostgreSQL integer', { p: MAX_PIN_ORDER + 1, u: updatedAt, i: id }],
    ['a timestamp without microseconds', { p: 0, u: '2026-12-04T14:00:00.123Z', i: id }],
    ['an impossible date', { p: 0, u: '2026-13-45T14:00:00.000000Z', i: id }],
    ['an id that is not a uuid', { p: 0, u: updatedAt, i: 'chat-1' }],
    ['no id', { p: 0, u: updatedAt }],
    ['an array', [0, updatedAt, id]],
    ['null', null],
  ])('rejects %s', (_what, value) => {
    rejects(encode(value));
  });

  it('rejects text that is not base64url JSON', () => {
    rejects('%%%');
    rejects(Buffer.from('not json').toString('base64url'));
  });
});
