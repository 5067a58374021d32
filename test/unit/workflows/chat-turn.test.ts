/** The workflow's pure decision: which turn, if any, to continue as. */
import { nextTurnToRun } from '../../../workflows/chat-turn';

describe('nextTurnToRun', () => {
  it.each([
    [3, null, 3, null],
    [3, 4, 3, 4],
    [3, null, 5, 5],
    [3, 4, 6, 6],
    [3, 2, 2, null],
  ])('current %p, database %p, signals %p → %p', (current, db, signals, expected) => {
    expect(nextTurnToRun(current, db, signals)).toBe(expected);
  });
});
