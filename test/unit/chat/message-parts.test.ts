/** NUL-byte escaping for jsonb (which cannot store U+0000) must be lossless for any string. */
import { decodeParts, encodeParts, stripInternal, type ChatMessagePart } from '../../../src/messages/parts';

describe('encodeParts / decodeParts', () => {
  it.each([
    ['plain', 'hello'],
    ['a NUL byte', 'a\u0000b'],
    ['the escape character itself', 'x\uE000y'],
    ['escape followed by the marker', '\uE000\uE001'],
    ['everything at once', '\u0000\uE000\u0000\uE001\uE000'],
  ])('round-trips %s', (_name, text) => {
    const parts: ChatMessagePart[] = [
      { type: 'text', text },
      { type: 'tool-call', args: { [text]: [text] } },
    ];
    const stored = encodeParts(parts);
    expect(stored).not.toContain('\\u0000');
    expect(decodeParts(JSON.parse(stored))).toEqual(parts);
  });
});

describe('stripInternal', () => {
  it('removes signatures, provider metadata and inline bytes of stored files', () => {
    expect(stripInternal({ type: 'reasoning', text: 't', signature: 's', provider_metadata: { a: 1 } })).toEqual({
      type: 'reasoning',
      text: 't',
    });
    expect(stripInternal({ type: 'file', file_id: 'f', data: 'AAAA', media_type: 'image/png' })).toEqual({
      type: 'file',
      file_id: 'f',
      media_type: 'image/png',
    });
  });
});
