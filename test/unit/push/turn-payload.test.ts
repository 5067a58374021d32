/**
 * Which turn ends push, and what the payload says. Pushes interrupt people, so the rules are narrow:
 * only a root chat the user still keeps, and only when its turn finished or failed on its own.
 */
import { answerText, shouldPushTurnEnd, summarize, turnPushPayload } from '../../../src/push/turn-payload';
import type { TurnEnded } from '../../../src/turn/deps';

const ended = (over: Partial<TurnEnded> = {}): TurnEnded => ({
  chatId: '6f1c1f8e-5d7a-4c39-9f55-0a3f1b7e2c11',
  ownerId: 'a2d5e7f0-1111-4222-8333-944455556666',
  parentChatId: null,
  archived: false,
  title: 'Fix the flaky test',
  turn: 3,
  outcome: 'completed',
  status: 'waiting',
  lastError: null,
  ...over,
});

describe('shouldPushTurnEnd', () => {
  it.each<[string, Partial<TurnEnded>, boolean]>([
    ['a completed turn of a root chat', {}, true],
    ['a failed turn of a root chat', { outcome: 'failed', status: 'error', lastError: 'boom' }, true],
    ['an interrupted turn', { outcome: 'interrupted' }, false],
    ['a failure an interrupt overtook (status waiting)', { outcome: 'failed', status: 'waiting' }, false],
    ['a superseded run', { outcome: 'superseded' }, false],
    ['a fenced run', { outcome: 'fenced' }, false],
    ['an archived chat, even when the turn completed', { archived: true }, false],
    ['an archived chat whose turn failed', { archived: true, outcome: 'failed', status: 'error' }, false],
    ['a sub-agent chat', { parentChatId: '0e0e0e0e-0000-4000-8000-000000000000' }, false],
    [
      'a sub-agent chat whose turn failed',
      { parentChatId: '0e0e0e0e-0000-4000-8000-000000000000', outcome: 'failed', status: 'error' },
      false,
    ],
    ['a completed run that left the chat pending', { status: 'pending' }, false],
  ])('%s: %s', (_what, over, expected) => {
    expect(shouldPushTurnEnd(ended(over))).toBe(expected);
  });
});

describe('summarize', () => {
  it('keeps a short text, folding whitespace', () => {
    expect(summarize('  Done.\n\nAll   tests pass. ')).toBe('Done. All tests pass.');
  });

  it('cuts a long text at a word boundary within the limit, ending with an ellipsis', () => {
    const text = 'word '.repeat(60);
    const summary = summarize(text);
    expect(summary.length).toBeLessThanOrEqual(120);
    expect(summary).toMatch(/^(word )+word…$/);
  });

  it('cuts a long word hard rather than dropping most of the room', () => {
    const summary = summarize('x'.repeat(500), 10);
    expect(summary).toBe('xxxxxxxxx…');
  });

  it('never splits a character made of two UTF-16 units', () => {
    const summary = summarize('😀'.repeat(200), 120);
    expect(Array.from(summary)).toHaveLength(120);
    expect(summary.endsWith('😀…')).toBe(true);
  });
});

describe('turnPushPayload', () => {
  it('carries the chat, its title, the start of the answer and the status', () => {
    expect(turnPushPayload(ended(), 'All green now.')).toEqual({
      chat_id: ended().chatId,
      title: 'Fix the flaky test',
      body: 'All green now.',
      status: 'waiting',
    });
  });

  it('says what failed when the turn ended in error', () => {
    const payload = turnPushPayload(
      ended({ outcome: 'failed', status: 'error', lastError: 'The API key was refused.' }),
      'partial',
    );
    expect(payload).toMatchObject({ status: 'error', body: 'The API key was refused.' });
  });

  it('takes only the answer text of the message parts', () => {
    expect(
      answerText([
        { type: 'reasoning', text: 'secret thoughts' },
        { type: 'text', text: 'First.' },
        { type: 'tool-call', tool_name: 'execute', args: {} },
        { type: 'text', text: 'Second.' },
      ]),
    ).toBe('First.\nSecond.');
  });
});
