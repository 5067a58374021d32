/**
 * Content-Disposition parsing and formatting: upload names come from untrusted headers, and the
 * download header must be parseable by every client while never allowing header injection.
 */
import { formatContentDisposition, parseContentDispositionFileName } from '../../../src/api/content-disposition';

describe('parseContentDispositionFileName', () => {
  it.each([
    ['attachment; filename="cat.png"', 'cat.png'],
    ['attachment; filename=cat.png', 'cat.png'],
    ['inline; FILENAME="a \\"quoted\\" name.png"', 'a "quoted" name.png'],
    ['attachment; filename="fallback.png"; filename*=UTF-8\'\'%E2%82%AC%20rates.png', '€ rates.png'],
    ['attachment; filename*=utf-8\'en\'na%C3%AFve.png; filename="naive.png"', 'naïve.png'],
    ["attachment; filename*=ISO-8859-1''caf%E9.png", 'café.png'],
  ])('reads %s', (header, expected) => {
    expect(parseContentDispositionFileName(header)).toBe(expected);
  });

  it('falls back to filename when filename* is malformed or not UTF-8', () => {
    expect(parseContentDispositionFileName('attachment; filename*=UTF-8\'\'%FF%FE.png; filename="ok.png"')).toBe(
      'ok.png',
    );
    expect(parseContentDispositionFileName("attachment; filename*=UTF-8''bad%zz; filename=ok.png")).toBe('ok.png');
  });

  it('re-reads a raw UTF-8 filename that Node exposed as Latin-1', () => {
    const raw = Buffer.from('attachment; filename="日本.png"', 'utf8').toString('latin1');
    expect(parseContentDispositionFileName(raw)).toBe('日本.png');
  });

  it('yields nothing for absent or nameless headers', () => {
    expect(parseContentDispositionFileName(undefined)).toBeUndefined();
    expect(parseContentDispositionFileName('attachment')).toBeUndefined();
    expect(parseContentDispositionFileName('attachment; filename=""')).toBeUndefined();
    expect(parseContentDispositionFileName('attachment; filename="unterminated')).toBe('unterminated');
  });
});

describe('formatContentDisposition', () => {
  it('gives an ASCII fallback and the exact name in filename*', () => {
    expect(formatContentDisposition('inline', '€ "rates" 100%.png')).toBe(
      'inline; filename="_ _rates_ 100_.png"; filename*=UTF-8\'\'%E2%82%AC%20%22rates%22%20100%25.png',
    );
  });

  it("percent-encodes the characters RFC 5987 excludes from attr-char (' ( ) *)", () => {
    expect(formatContentDisposition('inline', "it's (a) *.gif")).toContain(
      "filename*=UTF-8''it%27s%20%28a%29%20%2A.gif",
    );
  });

  it('round-trips through the parser', () => {
    const name = 'Ünïcödé 📷 (1).webp';
    expect(parseContentDispositionFileName(formatContentDisposition('attachment', name))).toBe(name);
  });
});
