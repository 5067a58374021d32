/**
 * Output capping (src/tools/output.ts): results stay within the 32 KB budget, cuts never split a UTF-8
 * character (a split one would reach the model as U+FFFD), and the result says how much was left out.
 */
import {
  capOutput,
  capProcessOutput,
  MAX_OUTPUT_BYTES,
  utf8CeilBoundary,
  utf8FloorBoundary,
} from '../../../src/tools/output';

const bytes = (s: string): number => Buffer.byteLength(s, 'utf8');

describe('capOutput', () => {
  it('leaves text within the budget untouched', () => {
    expect(capOutput('héllo')).toEqual({ text: 'héllo', truncated: false, omittedBytes: 0 });
    const exact = 'a'.repeat(MAX_OUTPUT_BYTES);
    expect(capOutput(exact).truncated).toBe(false);
  });

  it('defaults to 32 KB, keeping both ends around a marker', () => {
    const input = `START${'x'.repeat(100_000)}END`;
    const capped = capOutput(input);
    expect(bytes(capped.text)).toBeLessThanOrEqual(32 * 1024);
    expect(capped.text.startsWith('START')).toBe(true);
    expect(capped.text.endsWith('END')).toBe(true);
    expect(capped.text).toContain(`[${capped.omittedBytes} bytes omitted]`);
    expect(capped.truncated).toBe(true);
    expect(capped.note).toBe(
      `Output truncated: ${capped.omittedBytes} of ${bytes(input)} bytes omitted from the middle.`,
    );
  });

  // Every cut position against characters of 2, 3 and 4 bytes.
  it.each(['head', 'tail', 'head-and-tail'] as const)('never splits a multi-byte character (%s)', (keep) => {
    const input = 'aé€😀'.repeat(50); // 1 + 2 + 3 + 4 = 10 bytes per repetition
    for (let maxBytes = 40; maxBytes < bytes(input); maxBytes++) {
      const capped = capOutput(input, { maxBytes, keep });
      expect(bytes(capped.text)).toBeLessThanOrEqual(maxBytes);
      expect(capped.text).not.toContain('\uFFFD');
      expect(capped.omittedBytes).toBeGreaterThan(0);
      if (keep === 'head') expect(input.startsWith(capped.text)).toBe(true);
      if (keep === 'tail') expect(input.endsWith(capped.text)).toBe(true);
      if (keep !== 'head-and-tail') expect(bytes(capped.text) + capped.omittedBytes).toBe(bytes(input));
      // Cutting on a boundary loses at most 3 bytes of budget.
      if (keep !== 'head-and-tail') expect(bytes(capped.text)).toBeGreaterThanOrEqual(maxBytes - 3);
    }
  });

  it('cuts a 4-byte character out entirely rather than in half', () => {
    const capped = capOutput('ab😀cd', { maxBytes: 4, keep: 'head' });
    expect(capped).toMatchObject({ text: 'ab', truncated: true, omittedBytes: 6 });
    expect(capOutput('ab😀cd', { maxBytes: 4, keep: 'tail' }).text).toBe('cd');
  });

  it('accepts a Buffer', () => {
    const capped = capOutput(Buffer.from('€€€'), { maxBytes: 7, keep: 'head' });
    expect(capped.text).toBe('€€');
  });
});

describe('UTF-8 boundaries', () => {
  const buf = Buffer.from('a€b'); // 61 e2 82 ac 62
  it('floors and ceils cuts out of a sequence', () => {
    expect([0, 1, 2, 3, 4, 5].map((i) => utf8FloorBoundary(buf, i))).toEqual([0, 1, 1, 1, 4, 5]);
    expect([0, 1, 2, 3, 4, 5].map((i) => utf8CeilBoundary(buf, i))).toEqual([0, 1, 4, 4, 4, 5]);
  });
});

describe('capProcessOutput', () => {
  it('passes short output through without a note', () => {
    expect(capProcessOutput('ok\n', 3)).toEqual({ text: 'ok\n', truncated: false });
  });

  // The workspace keeps only the tail of a chatty process; the note must not claim the start is shown.
  it('accounts for bytes the process buffer already dropped and for the cut middle', () => {
    const kept = 'y'.repeat(50_000);
    const capped = capProcessOutput(kept, 80_000, 1_000);
    expect(Buffer.byteLength(capped.text)).toBeLessThanOrEqual(1_000);
    expect(capped.truncated).toBe(true);
    expect(capped.note).toMatch(
      /^Output truncated: showing \d+ of 80000 bytes \(the first 30000 bytes are no longer buffered; \d+ bytes were cut from the middle\)\.$/,
    );
    expect(capProcessOutput('abc', 10).note).toBe(
      'Output truncated: showing 3 of 10 bytes (the first 7 bytes are no longer buffered).',
    );
  });
});
