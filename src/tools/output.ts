/**
 * Output capping for tool results: long command output and file content are cut to a byte budget (32 KB
 * by default) on UTF-8 character boundaries, so the model never sees a split character, and the result
 * says what was left out.
 */

/** The budget for one tool result's text, in bytes of UTF-8. */
export const MAX_OUTPUT_BYTES = 32 * 1024;

/** Which part of an over-long text to keep. */
export type CapKeep = 'head' | 'tail' | 'head-and-tail';

export interface CappedOutput {
  /** At most `maxBytes` bytes of UTF-8 (including the omission marker in `head-and-tail` mode). */
  text: string;
  truncated: boolean;
  /** Bytes of the input left out. */
  omittedBytes: number;
  /** A sentence for the model when truncated. */
  note?: string;
}

const isContinuation = (byte: number | undefined): boolean => byte !== undefined && (byte & 0xc0) === 0x80;

/** The largest cut ≤ `at` that does not fall inside a UTF-8 sequence of `buf`. */
export function utf8FloorBoundary(buf: Buffer, at: number): number {
  let cut = Math.max(0, Math.min(at, buf.length));
  while (cut > 0 && cut < buf.length && isContinuation(buf[cut])) cut--;
  return cut;
}

/** The smallest cut ≥ `at` that does not fall inside a UTF-8 sequence of `buf`. */
export function utf8CeilBoundary(buf: Buffer, at: number): number {
  let cut = Math.max(0, Math.min(at, buf.length));
  while (cut < buf.length && isContinuation(buf[cut])) cut++;
  return cut;
}

/**
 * Caps `input` at `maxBytes` of UTF-8. `head` keeps the start (file content), `tail` the end, and
 * `head-and-tail` (the default, for command output) keeps both ends around an omission marker, because
 * what a command printed first and last (the invocation, the error) matters most.
 */
export function capOutput(input: string | Buffer, options: { maxBytes?: number; keep?: CapKeep } = {}): CappedOutput {
  const maxBytes = options.maxBytes ?? MAX_OUTPUT_BYTES;
  const keep = options.keep ?? 'head-and-tail';
  const buf = typeof input === 'string' ? Buffer.from(input, 'utf8') : input;
  if (buf.length <= maxBytes) return { text: buf.toString('utf8'), truncated: false, omittedBytes: 0 };

  let text: string;
  let kept: number;
  if (keep === 'head') {
    const end = utf8FloorBoundary(buf, maxBytes);
    text = buf.subarray(0, end).toString('utf8');
    kept = end;
  } else if (keep === 'tail') {
    const start = utf8CeilBoundary(buf, buf.length - maxBytes);
    text = buf.subarray(start).toString('utf8');
    kept = buf.length - start;
  } else {
    // The marker's length depends on the omitted count; reserve room for the widest possible number.
    const marker = (omitted: number): string => `\n… [${omitted} bytes omitted] …\n`;
    const budget = Math.max(0, maxBytes - Buffer.byteLength(marker(buf.length)));
    const headEnd = utf8FloorBoundary(buf, Math.floor(budget / 2));
    const tailStart = utf8CeilBoundary(buf, buf.length - (budget - headEnd));
    const omitted = tailStart - headEnd;
    text = buf.subarray(0, headEnd).toString('utf8') + marker(omitted) + buf.subarray(tailStart).toString('utf8');
    kept = buf.length - omitted;
  }
  const omittedBytes = buf.length - kept;
  const where = keep === 'head' ? 'the end' : keep === 'tail' ? 'the start' : 'the middle';
  return {
    text,
    truncated: true,
    omittedBytes,
    note: `Output truncated: ${omittedBytes} of ${buf.length} bytes omitted from ${where}.`,
  };
}

/**
 * Caps the output of a process for a tool result. `totalBytes` is what the process wrote in total, which
 * exceeds `output` when the workspace's in-memory buffer already dropped the start; the note accounts for
 * both losses.
 */
export function capProcessOutput(
  output: string,
  totalBytes: number,
  maxBytes: number = MAX_OUTPUT_BYTES,
): { text: string; truncated: boolean; note?: string } {
  const capped = capOutput(output, { maxBytes });
  const dropped = Math.max(0, totalBytes - Buffer.byteLength(output));
  if (!capped.truncated && dropped === 0) return { text: capped.text, truncated: false };
  const shown = Buffer.byteLength(output) - capped.omittedBytes;
  const parts: string[] = [];
  if (dropped > 0) parts.push(`the first ${dropped} bytes are no longer buffered`);
  if (capped.truncated) parts.push(`${capped.omittedBytes} bytes were cut from the middle`);
  return {
    text: capped.text,
    truncated: true,
    note: `Output truncated: showing ${shown} of ${totalBytes} bytes (${parts.join('; ')}).`,
  };
}
