/**
 * Chat titles before the title model has run: the first words of the first message, or `New Chat` when it has no text. Normalisation is shared with generated titles.
 */
export const DEFAULT_TITLE = 'New Chat';
const MAX_TITLE_RUNES = 80;

/** Control characters, NUL included (PostgreSQL text cannot hold it): a title never shows them. */
// eslint-disable-next-line no-control-regex
const CONTROL_CHARS = /[\u0000-\u001f\u007f-\u009f]/g;

/** Drops control characters, trims quotes and whitespace, collapses runs of whitespace, caps at 80 code points. */
export function normalizeTitle(raw: string): string {
  const collapsed = raw
    .replace(CONTROL_CHARS, ' ')
    .trim()
    .replace(/^["'`\u201c\u2018]+|["'`\u201d\u2019]+$/g, '')
    .replace(/\s+/g, ' ')
    .trim();
  return [...collapsed].slice(0, MAX_TITLE_RUNES).join('');
}

/** First six words of the text, with an ellipsis when cut. */
export function fallbackTitle(text: string): string {
  const words = text.trim().split(/\s+/).filter(Boolean);
  if (words.length === 0) return DEFAULT_TITLE;
  const head = words.slice(0, 6).join(' ');
  const title = words.length > 6 ? `${head}\u2026` : head;
  return normalizeTitle(title) || DEFAULT_TITLE;
}
