/**
 * Content-Disposition for file uploads and downloads: reading the client's file name (RFC 6266,
 * with RFC 5987 `filename*` for Unicode names) and writing a header every client can parse (an
 * ASCII `filename` fallback plus the exact name in `filename*`). HTTP concerns only; no I/O.
 *
 * Not the `content-disposition` package koa depends on: its parser throws on the whole header for one
 * malformed parameter (losing a usable `filename`) and decodes invalid UTF-8 in `filename*` to U+FFFD,
 * and its formatter sends `filename*` only for names that need it; the tests pin all three.
 */

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+/;

/** The header's parameters, names lower-cased; the first occurrence of a name wins. */
function parseParameters(header: string): Map<string, string> {
  const params = new Map<string, string>();
  let rest = header.slice(header.indexOf(';') + 1 || header.length);
  while (rest.length > 0) {
    rest = rest.replace(/^[\s;]+/, '');
    const name = TOKEN.exec(rest)?.[0];
    if (!name) break;
    rest = rest.slice(name.length).replace(/^\s*/, '');
    if (!rest.startsWith('=')) break;
    rest = rest.slice(1).replace(/^\s*/, '');
    let value: string;
    if (rest.startsWith('"')) {
      // quoted-string: backslash escapes any character; an unterminated string ends the header.
      let i = 1;
      value = '';
      while (i < rest.length && rest[i] !== '"') {
        if (rest[i] === '\\' && i + 1 < rest.length) i += 1;
        value += rest[i];
        i += 1;
      }
      rest = rest.slice(i + 1);
    } else {
      value = /^[^;]*/.exec(rest)![0].trim();
      rest = rest.slice(value.length);
    }
    const key = name.toLowerCase();
    if (!params.has(key)) params.set(key, value);
  }
  return params;
}

/** Decodes an RFC 5987 ext-value (`UTF-8''%E2%82%AC.png`); undefined when malformed. */
function decodeExtValue(value: string): string | undefined {
  const match = /^([\w!#$%&+^`{}~-]+)'[\w-]*'(.*)$/.exec(value);
  if (!match) return undefined;
  const charset = match[1]!.toLowerCase();
  const encoded = match[2]!;
  if (!/^(?:[!#$&+.^_`|~0-9A-Za-z-]|%[0-9A-Fa-f]{2})*$/.test(encoded)) return undefined;
  const bytes = Buffer.from(
    encoded.replace(/%([0-9A-Fa-f]{2})/g, (_m, hex: string) => String.fromCharCode(parseInt(hex, 16))),
    'latin1',
  );
  if (charset === 'utf-8') {
    const text = bytes.toString('utf8');
    // Invalid UTF-8 decodes to U+FFFD; refuse rather than store a mangled name.
    return Buffer.from(text, 'utf8').equals(bytes) ? text : undefined;
  }
  return charset === 'iso-8859-1' ? bytes.toString('latin1') : undefined;
}

/**
 * Node exposes header bytes as Latin-1. A client that sent a raw UTF-8 `filename` meant UTF-8, so
 * such a value is re-read as UTF-8 when it is valid UTF-8; anything else stays Latin-1.
 */
function fromHeaderBytes(value: string): string {
  if (!/[\u0080-\u00ff]/.test(value)) return value;
  const bytes = Buffer.from(value, 'latin1');
  const text = bytes.toString('utf8');
  return Buffer.from(text, 'utf8').equals(bytes) ? text : value;
}

/**
 * The file name a Content-Disposition header carries: `filename*` when present and well-formed,
 * else `filename`; undefined when there is neither. Never throws: a malformed header yields no name.
 */
export function parseContentDispositionFileName(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const params = parseParameters(header);
  const extended = params.get('filename*');
  const decoded = extended === undefined ? undefined : decodeExtValue(extended);
  if (decoded !== undefined && decoded !== '') return decoded;
  const plain = params.get('filename');
  return plain === undefined || plain === '' ? undefined : fromHeaderBytes(plain);
}

/** RFC 5987 attr-char encoding: encodeURIComponent leaves `'()*` unescaped, which attr-char excludes. */
function encodeExtValue(text: string): string {
  return encodeURIComponent(text).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/**
 * A Content-Disposition value for `name`: `<type>; filename="<ASCII fallback>"; filename*=UTF-8''<name>`.
 * The fallback replaces anything outside printable ASCII, quotes, backslashes and percent signs with
 * `_`, so old clients get a safe name and no header injection is possible; modern clients read the
 * exact name from `filename*`. The caller bounds the name's length.
 */
export function formatContentDisposition(type: 'inline' | 'attachment', name: string): string {
  const fallback = name.replace(/[^\x20-\x7e]|["\\%]/gu, '_');
  return `${type}; filename="${fallback}"; filename*=UTF-8''${encodeExtValue(name)}`;
}
