/**
 * What a chat file may be: raster images only, recognised by their magic bytes
 * rather than by what the client claims, plus the name rules for stored files. Pure functions, so
 * the rules are unit-tested without HTTP or a database.
 */

/** Media types chat files may have. SVG is excluded on purpose: it is a script-capable document. */
export const IMAGE_MEDIA_TYPES = ['image/png', 'image/jpeg', 'image/webp', 'image/gif'] as const;

export type ImageMediaType = (typeof IMAGE_MEDIA_TYPES)[number];

/** Largest accepted upload: 10 MiB. */
export const MAX_FILE_BYTES = 10 * 1024 * 1024;

/** Longest stored or served file name, in UTF-8 bytes. */
export const MAX_FILE_NAME_BYTES = 255;

const startsWith = (data: Uint8Array, bytes: readonly number[], offset = 0): boolean =>
  data.length >= offset + bytes.length && bytes.every((b, i) => data[offset + i] === b);

const ascii = (text: string): number[] => [...text].map((c) => c.charCodeAt(0));

/**
 * The image type the bytes actually are, by signature: PNG (8-byte signature), JPEG (SOI marker
 * followed by a marker byte), GIF (87a/89a) and WebP (a RIFF container of type WEBP). Undefined for
 * anything else, SVG included.
 */
export function sniffImageType(data: Uint8Array): ImageMediaType | undefined {
  if (startsWith(data, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return 'image/png';
  if (startsWith(data, [0xff, 0xd8, 0xff])) return 'image/jpeg';
  if (startsWith(data, ascii('GIF87a')) || startsWith(data, ascii('GIF89a'))) return 'image/gif';
  if (startsWith(data, ascii('RIFF')) && startsWith(data, ascii('WEBP'), 8)) return 'image/webp';
  return undefined;
}

/**
 * The media type of a Content-Type header value: lower-cased, parameters dropped, and the common
 * `image/jpg` alias folded into `image/jpeg`. Empty string when the header is absent.
 */
export function normalizeMediaType(contentType: string | undefined): string {
  const type = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  return type === 'image/jpg' ? 'image/jpeg' : type;
}

/** Whether a (normalised) media type is an accepted image type. */
export function isImageMediaType(type: string): type is ImageMediaType {
  return (IMAGE_MEDIA_TYPES as readonly string[]).includes(type);
}

/**
 * The longest prefix of `text` that fits in `maxBytes` of UTF-8 without splitting a code point
 * (a surrogate pair is one code point and is kept or dropped whole).
 */
export function truncateUtf8(text: string, maxBytes: number): string {
  if (Buffer.byteLength(text, 'utf8') <= maxBytes) return text;
  let bytes = 0;
  let end = 0;
  for (const char of text) {
    const size = Buffer.byteLength(char, 'utf8');
    if (bytes + size > maxBytes) break;
    bytes += size;
    end += char.length;
  }
  return text.slice(0, end);
}

const EXTENSIONS: Record<ImageMediaType, string> = {
  'image/png': 'png',
  'image/jpeg': 'jpg',
  'image/webp': 'webp',
  'image/gif': 'gif',
};

// C0/C1 controls (header injection, NUL) and bidi overrides (names that display a fake extension).
// eslint-disable-next-line no-control-regex
const UNSAFE_CHARS = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/**
 * A safe stored name for an upload: the last path segment only (no directories), control and
 * bidi-override characters removed, lone surrogates replaced, trimmed, at most 255 UTF-8 bytes;
 * `image.<ext>` when nothing is left.
 */
export function sanitizeFileName(name: string | undefined, type: ImageMediaType): string {
  const base = (name ?? '').split(/[/\\]/).pop() ?? '';
  const cleaned = base.replace(UNSAFE_CHARS, '').replace(LONE_SURROGATE, '\ufffd').trim();
  const safe = cleaned === '' || cleaned === '.' || cleaned === '..' ? `image.${EXTENSIONS[type]}` : cleaned;
  return truncateUtf8(safe, MAX_FILE_NAME_BYTES);
}
