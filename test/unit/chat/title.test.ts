/** Titles before the title model runs: first words of the first message, or "New Chat". */
import { DEFAULT_TITLE, fallbackTitle, normalizeTitle } from '../../../src/chat/title';

describe('fallbackTitle', () => {
  it('uses short messages whole', () => expect(fallbackTitle('  Fix the build  ')).toBe('Fix the build'));
  it('cuts after six words with an ellipsis', () =>
    expect(fallbackTitle('one two three four five six seven')).toBe('one two three four five six\u2026'));
  it('falls back to New Chat without text', () => expect(fallbackTitle('   ')).toBe(DEFAULT_TITLE));
});

describe('normalizeTitle', () => {
  it('strips surrounding quotes and collapses whitespace', () =>
    expect(normalizeTitle(' "Fix   the\nbuild" ')).toBe('Fix the build'));
  it('caps at 80 code points without splitting a surrogate pair', () => {
    const title = normalizeTitle('\u{1F600}'.repeat(100));
    expect([...title]).toHaveLength(80);
    expect(title).toBe('\u{1F600}'.repeat(80));
  });
});
