/**
 * What a chat file may be: raster images only, recognised by their magic bytes
 * rather than by what the client claims, plus the name rules for stored files and the pixel size an
 * image header declares (providers limit it). Pure functions, so the rules are unit-tested without
 * HTTP or a database.
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

/** Width and height of an image in pixels. */
export interface ImageDimensions {
  width: number;
  height: number;
}

const u16be = (d: Uint8Array, i: number): number => (d[i]! << 8) | d[i + 1]!;
const u16le = (d: Uint8Array, i: number): number => d[i]! | (d[i + 1]! << 8);
const u24le = (d: Uint8Array, i: number): number => d[i]! | (d[i + 1]! << 8) | (d[i + 2]! << 16);
const u32be = (d: Uint8Array, i: number): number => ((d[i]! << 24) >>> 0) + (d[i + 1]! << 16) + u16be(d, i + 2);

/**
 * The pixel size an image header declares, for the types sniffImageType recognises: PNG (IHDR), GIF
 * (logical screen), WebP (VP8, VP8L or VP8X chunk) and JPEG (the first start-of-frame marker). Reads
 * only the header, so a prefix of the file is enough; undefined when the header is cut short or not
 * understood. Providers refuse images over their pixel limits, so this is checked before sending.
 */
export function imageDimensions(data: Uint8Array): ImageDimensions | undefined {
  const type = sniffImageType(data);
  const has = (bytes: number): boolean => data.length >= bytes;
  switch (type) {
    case 'image/png':
      // The IHDR chunk always comes first: length (4), "IHDR" (4), then width and height.
      return has(24) && startsWith(data, ascii('IHDR'), 12)
        ? { width: u32be(data, 16), height: u32be(data, 20) }
        : undefined;
    case 'image/gif':
      return has(10) ? { width: u16le(data, 6), height: u16le(data, 8) } : undefined;
    case 'image/webp':
      return webpDimensions(data);
    case 'image/jpeg':
      return jpegDimensions(data);
    default:
      return undefined;
  }
}

function webpDimensions(d: Uint8Array): ImageDimensions | undefined {
  if (startsWith(d, ascii('VP8 '), 12) && d.length >= 30) {
    // Lossy: a key frame's start code, then 14-bit width and height.
    return { width: u16le(d, 26) & 0x3fff, height: u16le(d, 28) & 0x3fff };
  }
  if (startsWith(d, ascii('VP8L'), 12) && d.length >= 25) {
    // Lossless: a signature byte, then width - 1 and height - 1 as two 14-bit fields.
    const bits = (d[21]! | (d[22]! << 8) | (d[23]! << 16) | (d[24]! << 24)) >>> 0;
    return { width: (bits & 0x3fff) + 1, height: ((bits >>> 14) & 0x3fff) + 1 };
  }
  if (startsWith(d, ascii('VP8X'), 12) && d.length >= 30) {
    // Extended: the canvas size as 24-bit width - 1 and height - 1.
    return { width: u24le(d, 24) + 1, height: u24le(d, 27) + 1 };
  }
  return undefined;
}

function jpegDimensions(d: Uint8Array): ImageDimensions | undefined {
  let i = 2;
  while (i + 4 <= d.length) {
    if (d[i] !== 0xff) return undefined;
    const marker = d[i + 1]!;
    // Fill bytes, and markers that carry no length (TEM, RSTn).
    if (marker === 0xff) {
      i += 1;
      continue;
    }
    if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) {
      i += 2;
      continue;
    }
    // SOF0..SOF15 hold the frame size; C4 (DHT), C8 (JPG) and CC (DAC) share the range but do not.
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      return i + 9 <= d.length ? { height: u16be(d, i + 5), width: u16be(d, i + 7) } : undefined;
    }
    // Start of scan or end of image before any frame header: nothing to find.
    if (marker === 0xda || marker === 0xd9) return undefined;
    i += 2 + u16be(d, i + 2);
  }
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
