/**
 * The activity log context: every line an activity writes to the process logger, however deep,
 * carries the activity's name and the chat, turn and step of its input (attempt only on retries);
 * lines outside an activity carry none of them.
 */
import { MockActivityEnvironment } from '@temporalio/testing';
import { activityLogContext, logContextOf } from '../../../activities/log-context';
import { createLogger } from '../../../src/log';
import { LogCapture } from './log-capture';

describe('activity log context', () => {
  it('binds chat, turn, step and activity to every line the activity logs', async () => {
    const capture = new LogCapture();
    const log = createLogger('info', 'test', capture);
    const deepHelper = async (): Promise<void> => {
      await Promise.resolve();
      log.warn({ detail: 1 }, 'deep line');
    };
    const env = new MockActivityEnvironment({ activityType: 'runModelStep' }, { interceptors: [activityLogContext] });
    await env.run(
      async (input: { chatId: string; turn: number; step: number }) => {
        log.info('model step line');
        await deepHelper();
        return input.step;
      },
      { chatId: 'chat-1', turn: 3, step: 2 },
    );
    log.info('outside line');

    const inside = capture.lines.filter((l) => l.msg !== 'outside line');
    expect(inside.map((l) => l.msg)).toEqual(['model step line', 'deep line']);
    for (const line of inside) {
      expect(line).toMatchObject({ chatId: 'chat-1', turn: 3, step: 2, activity: 'runModelStep' });
      expect(line.attempt).toBeUndefined();
    }
    expect(inside[1]!.detail).toBe(1);
    const outside = capture.lines.find((l) => l.msg === 'outside line')!;
    expect(outside.chatId).toBeUndefined();
    expect(outside.activity).toBeUndefined();
  });

  it('keeps what the input has: a chat without turn or step, the attempt on a retry', () => {
    expect(logContextOf('generateChatTitle', 1, { chatId: 'chat-2' })).toEqual({
      activity: 'generateChatTitle',
      chatId: 'chat-2',
    });
    expect(logContextOf('finishTurn', 3, { chatId: 'chat-3', turn: 1, outcome: 'completed' })).toEqual({
      activity: 'finishTurn',
      attempt: 3,
      chatId: 'chat-3',
      turn: 1,
    });
    expect(logContextOf('x', 1, undefined)).toEqual({ activity: 'x' });
  });
});
