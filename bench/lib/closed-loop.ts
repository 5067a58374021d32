/**
 * A closed-loop load: N chats, each sending its next message as soon as the previous turn ended,
 * for up to `turnsPerChat` turns (the first is the chat's creation) and up to `maxSeconds`.
 * Reports completed turns, turns/s over the window, turn latency (POST → idle), errors and missed
 * status frames, and the chat ids for sampling histories.
 */
import type { Knobs } from './api';
import { ChatDriver, type TurnTiming } from './chat-driver';
import type { ScenarioContext } from './scenario';
import { nowMs } from './stats';

export interface ClosedLoopOptions {
  chats: number;
  turnsPerChat: number;
  knobs: Knobs;
  maxSeconds: number;
  /** Called once every chat exists and finished its first turn, before the timed window. */
  warm?: boolean;
}

export interface ClosedLoopResult {
  turns: number;
  seconds: number;
  turnsPerS: number;
  /** POST → chat idle, ms, per completed turn. */
  latencies: number[];
  /** POST → first streamed part, ms. */
  firstPart: number[];
  errors: number;
  errorKinds: Record<string, number>;
  missedStatusFrames: number;
  chatIds: string[];
}

/**
 * Runs the loop. With `warm`, chats are created and their first turn completes before the window
 * opens (`onWindow` is called at that moment), so only follow-up turns are timed.
 */
export async function closedLoop(
  ctx: ScenarioContext,
  options: ClosedLoopOptions,
  onWindow?: () => Promise<void>,
): Promise<ClosedLoopResult> {
  const modelConfigId = await ctx.api.modelConfig(options.knobs);
  const result = emptyClosedLoopResult();
  const fail = (kind: string): void => {
    result.errors += 1;
    result.errorKinds[kind] = (result.errorKinds[kind] ?? 0) + 1;
  };
  const record = (t: TurnTiming): boolean => {
    if (t.missedStatusFrame) result.missedStatusFrames += 1;
    if (t.status !== 'waiting') {
      fail(t.status);
      return false;
    }
    result.turns += 1;
    result.latencies.push(t.endAt - t.sentAt);
    if (t.firstPartAt !== null) result.firstPart.push(t.firstPartAt - t.sentAt);
    return true;
  };

  const drivers: ChatDriver[] = [];
  let windowStart = nowMs();
  let until = windowStart + options.maxSeconds * 1000;
  let lastEnd = windowStart;
  try {
    if (options.warm) {
      await Promise.all(
        Array.from({ length: options.chats }, async (_, i) => {
          const { driver, created } = await ChatDriver.create(ctx.api, ctx.pg, modelConfigId, `chat ${i}: hello`);
          drivers.push(driver);
          const t = await driver.finish(created, 0, 60_000);
          if (t.status !== 'waiting') fail(`warm-${t.status}`);
        }),
      );
      await onWindow?.();
      windowStart = nowMs();
      until = windowStart + options.maxSeconds * 1000;
    }
    const loop = async (i: number): Promise<void> => {
      let driver = drivers[i];
      let done = 0;
      if (!driver) {
        try {
          const made = await ChatDriver.create(ctx.api, ctx.pg, modelConfigId, `chat ${i}: hello`);
          driver = made.driver;
          drivers.push(driver);
          if (record(await driver.finish(made.created, 0, 60_000))) lastEnd = Math.max(lastEnd, nowMs());
        } catch (err) {
          fail(`create: ${(err as Error).message.slice(0, 80)}`);
          return;
        }
        done = 1;
      }
      for (let t = done; t < options.turnsPerChat - (options.warm ? 1 : 0) && nowMs() < until; t++) {
        try {
          if (record(await driver.send(`message ${t + 1}`, 60_000))) lastEnd = Math.max(lastEnd, nowMs());
        } catch (err) {
          fail(`send: ${(err as Error).message.slice(0, 80)}`);
          return;
        }
      }
    };
    if (!options.warm) await onWindow?.();
    windowStart = options.warm ? windowStart : nowMs();
    await Promise.all(Array.from({ length: options.chats }, (_, i) => loop(i)));
  } finally {
    for (const d of drivers) d.close();
  }
  result.chatIds = drivers.map((d) => d.chatId);
  result.seconds = Math.max(0.001, (lastEnd - windowStart) / 1000);
  result.turnsPerS = result.turns / result.seconds;
  return result;
}

/** A result with nothing measured yet (a loop starts from it; several loops add up into it). */
export function emptyClosedLoopResult(): ClosedLoopResult {
  return {
    turns: 0,
    seconds: 0,
    turnsPerS: 0,
    latencies: [],
    firstPart: [],
    errors: 0,
    errorKinds: {},
    missedStatusFrames: 0,
    chatIds: [],
  };
}
