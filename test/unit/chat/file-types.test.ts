/**
 * Upload type rules: the server trusts the bytes, not the client's Content-Type, and stored names
 * must be safe to put in a header and fit 255 UTF-8 bytes without breaking a character.
 */
import { normalizeMediaType, sanitizeFileName, sniffImageType, truncateUtf8 } from '../../../src/files/file-types';

const bytes = (...parts: Array<number[] | string>): Buffer =>
  Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'latin1') : Buffer.from(p))));

describe('sniffImageType', () => {
  it.each([
    ['image/png', bytes([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13])],
    ['image/jpeg', bytes([0xff, 0xd8, 0xff, 0xe0, 0, 0x10])],
    ['image/gif', bytes('GIF89a', [1, 0, 1, 0])],
    ['image/gif', bytes('GIF87a', [1, 0, 1, 0])],
    ['image/webp', bytes('RIFF', [0x24, 0, 0, 0], 'WEBPVP8 ')],
  ])('recognises %s', (type, data) => {
    expect(sniffImageType(data)).toBe(type);
  });

  it.each([
    ['SVG', bytes('<svg xmlns="http://www.w3.org/2000/svg"></svg>')],
    ['a RIFF that is not WebP', bytes('RIFF', [0x24, 0, 0, 0], 'WAVEfmt ')],
    ['a truncated PNG signature', bytes([0x89, 0x50, 0x4e, 0x47])],
    ['nothing', Buffer.alloc(0)],
  ])('refuses %s', (_what, data) => {
    expect(sniffImageType(data)).toBeUndefined();
  });
});

describe('normalizeMediaType', () => {
  it('drops parameters, lower-cases and folds image/jpg', () => {
    expect(normalizeMediaType('Image/PNG; charset=binary')).toBe('image/png');
    expect(normalizeMediaType('image/jpg')).toBe('image/jpeg');
    expect(normalizeMediaType(undefined)).toBe('');
  });
});

describe('truncateUtf8', () => {
  it('never splits a code point', () => {
    // '€' is 3 bytes, '📷' is 4 (a surrogate pair in JS).
    expect(truncateUtf8('€€€', 7)).toBe('€€');
    expect(truncateUtf8('a📷', 4)).toBe('a');
    expect(truncateUtf8('a📷', 5)).toBe('a📷');
    expect(truncateUtf8('short', 255)).toBe('short');
  });
});

describe('sanitizeFileName', () => {
  it('keeps only the last path segment and strips control and bidi characters', () => {
    expect(sanitizeFileName('../../etc/pass\r\nwd.png', 'image/png')).toBe('passwd.png');
    expect(sanitizeFileName('C:\\Users\\me\\cat.gif', 'image/gif')).toBe('cat.gif');
    expect(sanitizeFileName('evil\u202Egnp.exe', 'image/png')).toBe('evilgnp.exe');
  });

  it('names nameless uploads after their type', () => {
    expect(sanitizeFileName(undefined, 'image/jpeg')).toBe('image.jpg');
    expect(sanitizeFileName(' .. ', 'image/webp')).toBe('image.webp');
  });

  it('bounds names to 255 UTF-8 bytes', () => {
    const name = sanitizeFileName(`${'é'.repeat(200)}.png`, 'image/png');
    expect(Buffer.byteLength(name, 'utf8')).toBeLessThanOrEqual(255);
    expect(name).toBe('é'.repeat(127));
  });
});
