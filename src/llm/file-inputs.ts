/**
 * Which user files a provider protocol can take, from each provider's public documentation (the numbers
 * and their sources are in docs/files.md), and the choice, per request, of which files are sent. A file
 * that cannot go (a type the provider does not read, too large, over a per-request limit) is replaced by
 * a short text note, never sent to be refused: the provider would reject the whole request, and because
 * every later request repeats the history, the chat could never run another turn.
 */
import { imageDimensions } from '../files/file-types';
import type { ModelFilePart, ModelMessage } from './types';

/** What one protocol accepts. Sizes of single files are checked first, then the per-request totals. */
export interface FileInputLimits {
  /** Image media types sent as images. */
  readonly imageTypes: readonly string[];
  /** Other media types sent as documents (PDF); empty when the protocol takes none. */
  readonly documentTypes: readonly string[];
  /** Largest image as base64 text (Anthropic measures the encoded text). */
  readonly maxImageBase64Chars?: number;
  /** Longest side of an image in pixels. */
  readonly maxImageSide?: number;
  /** With more than `over` images in one request, every image must fit `maxSide` pixels. */
  readonly manyImages?: { readonly over: number; readonly maxSide: number };
  /** Images in one request. */
  readonly maxImages: number;
  /** Bytes of all images of one request (decoded). */
  readonly maxImageBytesPerRequest: number;
  /** Bytes of all documents of one request (decoded). */
  readonly maxDocumentBytesPerRequest: number;
  /** Base64 text of all files of one request, so the request stays under the provider's size limit. */
  readonly maxFileCharsPerRequest: number;
}

const IMAGE_TYPES = ['image/png', 'image/jpeg', 'image/gif', 'image/webp'] as const;
const PDF = 'application/pdf';

/**
 * Anthropic Messages: PNG, JPEG, GIF and WebP images of at most 5 MB of base64 text and 8000×8000 pixels
 * (2000×2000 when a request has more than 20 images), PDFs as document blocks, 32 MB per request. chatd
 * sends at most 100 images (the smaller of the documented per-request counts) and keeps the files of a
 * request under 24 MB of base64 text, leaving the rest of the 32 MB to the conversation itself.
 */
export const ANTHROPIC_FILE_LIMITS: FileInputLimits = {
  imageTypes: IMAGE_TYPES,
  documentTypes: [PDF],
  maxImageBase64Chars: 5 * 1024 * 1024,
  maxImageSide: 8000,
  manyImages: { over: 20, maxSide: 2000 },
  maxImages: 100,
  maxImageBytesPerRequest: Infinity,
  maxDocumentBytesPerRequest: Infinity,
  maxFileCharsPerRequest: 24_000_000,
};

/**
 * OpenAI, both the Responses API (input_image, input_file) and Chat Completions (image_url, and PDFs as
 * `file` parts): PNG, JPEG, WebP and GIF images, at most 500 images and 50 MB of image bytes per request;
 * PDFs up to 32 MB of file content per request.
 */
export const OPENAI_FILE_LIMITS: FileInputLimits = {
  imageTypes: IMAGE_TYPES,
  documentTypes: [PDF],
  maxImages: 500,
  maxImageBytesPerRequest: 50_000_000,
  maxDocumentBytesPerRequest: 32_000_000,
  maxFileCharsPerRequest: Infinity,
};

/**
 * OpenAI-compatible servers (Chat Completions or Responses): images in OpenAI's shapes, with OpenAI's
 * limits, since the servers document none of their own; no PDFs, which only OpenAI's own API reads.
 */
export const OPENAI_COMPAT_FILE_LIMITS: FileInputLimits = { ...OPENAI_FILE_LIMITS, documentTypes: [] };

/** The limits of an OpenAI client, by the kind of server it talks to. */
export const openAiFileLimits = (kind: 'openai' | 'openai-compat'): FileInputLimits =>
  kind === 'openai' ? OPENAI_FILE_LIMITS : OPENAI_COMPAT_FILE_LIMITS;

/** Whether a file part is an image (as opposed to a document) for the protocol. */
export const isImagePart = (part: ModelFilePart): boolean => part.mediaType.startsWith('image/');

/** The bytes a base64 text decodes to. */
export function base64Bytes(data: string): number {
  const padding = data.endsWith('==') ? 2 : data.endsWith('=') ? 1 : 0;
  return Math.max(0, Math.floor((data.length * 3) / 4) - padding);
}

/** `data:<type>;base64,<data>`: how both OpenAI APIs take inline files. */
export const dataUrl = (part: ModelFilePart): string => `data:${part.mediaType};base64,${part.data}`;

/** The text put in the prompt in place of a file that is not sent: `[image a.png could not be sent: …]`. */
export function fileNote(name: string, mediaType: string | undefined, reason: string): string {
  return `[${mediaType?.startsWith('image/') ? 'image' : 'file'} ${name} could not be sent: ${reason}]`;
}

// Image sizes are read from the start of the file only: 768 KiB of bytes holds the PNG, GIF and WebP
// headers and, behind all but unusually large metadata segments, a JPEG's frame header.
const HEADER_BASE64_CHARS = 1024 * 1024;

const megabytes = (n: number): string => `${Math.round(n / 100_000) / 10} MB`;

/** Why one file cannot go on its own (its type, or its size), or null. */
function refusalOf(part: ModelFilePart, limits: FileInputLimits): string | null {
  if (isImagePart(part)) {
    if (!limits.imageTypes.includes(part.mediaType)) return `this model provider does not read ${part.mediaType} files`;
    if (limits.maxImageBase64Chars !== undefined && part.data.length > limits.maxImageBase64Chars) {
      return `it is larger than the ${megabytes((limits.maxImageBase64Chars * 3) / 4)} this model provider accepts per image`;
    }
    return null;
  }
  return limits.documentTypes.includes(part.mediaType)
    ? null
    : `this model provider does not read ${part.mediaType} files`;
}

/**
 * Decides which files of a request's user messages are sent. Single-file rules come first; then the
 * per-request limits admit files newest first, so when a conversation holds more than a request can carry
 * the oldest files give way. Returns the note to send instead of each refused part (by identity); a part
 * that is not in the map is sent.
 */
export function planFileInputs(messages: readonly ModelMessage[], limits: FileInputLimits): Map<ModelFilePart, string> {
  const refused = new Map<ModelFilePart, string>();
  const files = messages.flatMap((m) =>
    m.role === 'user' ? m.content.filter((p): p is ModelFilePart => p.type === 'file') : [],
  );
  const refuse = (part: ModelFilePart, reason: string): void => {
    refused.set(part, fileNote(part.name, part.mediaType, reason));
  };

  const sides = new Map<ModelFilePart, number>();
  /** The longer side in pixels; 0 when the header cannot be read, which is not held against the file. */
  const sideOf = (part: ModelFilePart): number => {
    let side = sides.get(part);
    if (side === undefined) {
      const size = imageDimensions(Buffer.from(part.data.slice(0, HEADER_BASE64_CHARS), 'base64'));
      side = size ? Math.max(size.width, size.height) : 0;
      sides.set(part, side);
    }
    return side;
  };

  let images = 0;
  let imageBytes = 0;
  let documentBytes = 0;
  let chars = 0;
  const admittedImages: ModelFilePart[] = [];
  for (const part of [...files].reverse()) {
    const reason = refusalOf(part, limits);
    if (reason) {
      refuse(part, reason);
      continue;
    }
    const image = isImagePart(part);
    if (image && limits.maxImageSide !== undefined && sideOf(part) > limits.maxImageSide) {
      refuse(part, `it is larger than ${limits.maxImageSide}×${limits.maxImageSide} pixels`);
      continue;
    }
    const bytes = base64Bytes(part.data);
    const overTotal = image
      ? images + 1 > limits.maxImages || imageBytes + bytes > limits.maxImageBytesPerRequest
      : documentBytes + bytes > limits.maxDocumentBytesPerRequest;
    if (overTotal || chars + part.data.length > limits.maxFileCharsPerRequest) {
      refuse(part, 'the conversation holds more files than one request can carry, and newer ones come first');
      continue;
    }
    if (image) {
      images += 1;
      imageBytes += bytes;
      admittedImages.push(part);
    } else {
      documentBytes += bytes;
    }
    chars += part.data.length;
  }

  // With many images every image must be small: refuse the oldest large ones until the rule holds.
  const many = limits.manyImages;
  if (many) {
    for (const part of [...admittedImages].reverse()) {
      if (images <= many.over) break;
      if (sideOf(part) <= many.maxSide) continue;
      refuse(
        part,
        `more than ${many.over} images are attached and it is larger than ${many.maxSide}×${many.maxSide} pixels`,
      );
      images -= 1;
    }
  }
  return refused;
}
