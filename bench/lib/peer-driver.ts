/**
 * One load generator for chatd and its peers (scenario S11): every system is a `TurnSystem` that
 * opens threads and runs turns, timed the same way (send → first streamed text, send → full
 * answer). chatd is driven through its API (a chat per thread, its SSE stream open, as ChatDriver
 * does); a peer through the peers' protocol (README "Peers"): `POST /turn` `{thread_id, message,
 * model}` answered by `text/event-stream` frames `data: {"type":"delta"|"done"|"error",…}`.
 */
import { randomBytes } from 'node:crypto';
import * as http from 'node:http';
import { knobModel, type ChatdApi, type Knobs } from './api';
import { ChatDriver, waitRunClosed } from './chat-driver';
import type { PgProbe } from './pg-stats';
import { frameJson } from './sse';
import { nowMs } from './stats';
import type { Client } from '@temporalio/client';

/** One streamed piece of an answer and its arrival time. */
export interface Delta {
  at: number;
  text: string;
}

export interface TurnResult {
  ok: boolean;
  /** Send → first streamed text, ms (null when none arrived). */
  ttftMs: number | null;
  /** Send → full answer (or failure), ms. */
  totalMs: number;
  /** The answer as the client holds it at the end. */
  text: string;
  deltas: Delta[];
  error?: string;
  /** Extra fields of the final frame (a peer's workflow id). */
  done?: Record<string, unknown>;
  sentAt: number;
}

export interface TurnSystem {
  readonly name: string;
  /** Opens a thread and runs its first turn (the warm-up): resolves with the thread id. */
  newThread(knobs: Knobs): Promise<string>;
  turn(threadId: string, text: string, knobs: Knobs, timeoutMs?: number): Promise<TurnResult>;
  /** Answers the system holds in its store for the thread (after a crash: was the turn kept?). */
  storedAnswers(threadId: string): Promise<number>;
  /** Waits until the thread is idle in the store (chatd: its workflow run closed); no-op for peers. */
  settle(threadId: string): Promise<void>;
  close(): void;
}

/** A frame of the peers' protocol. */
export interface PeerFrame {
  type: 'delta' | 'done' | 'error';
  text?: string;
  message?: string;
  [key: string]: unknown;
}

/**
 * Splits SSE text into complete `data:` payloads of the peers' protocol; returns them and the
 * unfinished rest (frames end with a blank line). Lines other than `data:` are ignored.
 */
export function parsePeerFrames(buffer: string): { frames: PeerFrame[]; rest: string } {
  const frames: PeerFrame[] = [];
  const normalized = buffer.replace(/\r\n/g, '\n');
  const blocks = normalized.split('\n\n');
  const rest = blocks.pop() ?? '';
  for (const block of blocks) {
    const data = block
      .split('\n')
      .filter((line) => line.startsWith('data:'))
      .map((line) => line.slice(5).trimStart())
      .join('\n');
    if (!data) continue;
    const parsed = JSON.parse(data) as PeerFrame;
    if (parsed.type === 'delta' || parsed.type === 'done' || parsed.type === 'error') frames.push(parsed);
  }
  return { frames, rest };
}

/** A peer behind the peers' protocol. */
export class PeerSystem implements TurnSystem {
  readonly agent = new http.Agent({ keepAlive: true, maxSockets: 256 });

  constructor(
    readonly name: string,
    public baseUrl: string,
  ) {}

  async newThread(knobs: Knobs): Promise<string> {
    const id = `${this.name}-${randomBytes(6).toString('hex')}`;
    const warm = await this.turn(id, 'hello', knobs, 60_000);
    if (!warm.ok) throw new Error(`${this.name}: warm-up turn failed: ${warm.error ?? 'no answer'}`);
    return id;
  }

  turn(threadId: string, text: string, knobs: Knobs, timeoutMs = 60_000): Promise<TurnResult> {
    const body = JSON.stringify({ thread_id: threadId, message: text, model: knobModel(knobs) });
    const sentAt = nowMs();
    const result: TurnResult = { ok: false, ttftMs: null, totalMs: 0, text: '', deltas: [], sentAt };
    return new Promise<TurnResult>((resolve) => {
      let settled = false;
      const finish = (error?: string): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        result.totalMs = nowMs() - sentAt;
        if (error !== undefined) result.error = error;
        resolve(result);
      };
      const req = http.request(
        `${this.baseUrl}/turn`,
        {
          method: 'POST',
          agent: this.agent,
          headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) },
        },
        (res) => {
          if (res.statusCode !== 200) {
            res.resume();
            finish(`HTTP ${res.statusCode}`);
            return;
          }
          res.setEncoding('utf8');
          let buffer = '';
          res.on('data', (chunk: string) => {
            const at = nowMs();
            const parsed = parsePeerFrames(buffer + chunk);
            buffer = parsed.rest;
            for (const frame of parsed.frames) {
              if (frame.type === 'delta' && frame.text) {
                if (result.ttftMs === null) result.ttftMs = at - sentAt;
                result.deltas.push({ at, text: frame.text });
                result.text += frame.text;
              } else if (frame.type === 'done') {
                result.ok = true;
                const { type: _type, text: _text, ...rest } = frame;
                result.done = rest;
                finish();
              } else if (frame.type === 'error') {
                finish(frame.message ?? 'error frame');
              }
            }
          });
          res.on('end', () => finish('stream ended without a done frame'));
          res.on('error', (err) => finish(err.message));
        },
      );
      const timer = setTimeout(() => {
        req.destroy();
        finish('timeout');
      }, timeoutMs);
      req.on('error', (err) => finish(err.message));
      req.end(body);
    });
  }

  async storedAnswers(threadId: string): Promise<number> {
    const res = await fetch(`${this.baseUrl}/thread/${encodeURIComponent(threadId)}`);
    if (!res.ok) throw new Error(`${this.name}: GET /thread: HTTP ${res.status}`);
    return ((await res.json()) as { stored_answers: number }).stored_answers;
  }

  async settle(): Promise<void> {}

  close(): void {
    this.agent.destroy();
  }
}

/** chatd through its API: a thread is a chat (created with its first message), a turn a message. */
export class ChatdSystem implements TurnSystem {
  readonly name = 'chatd';
  private readonly drivers = new Map<string, ChatDriver>();

  constructor(
    private readonly api: ChatdApi,
    private readonly pg: PgProbe,
    private readonly temporal: Client,
  ) {}

  async newThread(knobs: Knobs): Promise<string> {
    const modelConfigId = await this.api.modelConfig(knobs);
    const { driver, created } = await ChatDriver.create(this.api, this.pg, modelConfigId, 'hello');
    this.drivers.set(driver.chatId, driver);
    const warm = await driver.finish(created, 0, 60_000);
    if (warm.status !== 'waiting') throw new Error(`chatd: warm-up turn ended ${warm.status}`);
    return driver.chatId;
  }

  /** Sends a message on the chat (its model config, fixed at creation, carries the knobs). */
  async turn(threadId: string, text: string, _knobs: Knobs, timeoutMs = 60_000): Promise<TurnResult> {
    const driver = this.drivers.get(threadId);
    if (!driver) throw new Error(`chatd: unknown thread ${threadId}`);
    const fromFrame = driver.stream.frames.length;
    const sentAt = nowMs();
    let timing;
    try {
      timing = await driver.send(text, timeoutMs);
    } catch (err) {
      const message = (err as Error).message;
      return { ok: false, ttftMs: null, totalMs: nowMs() - sentAt, text: '', deltas: [], error: message, sentAt };
    }
    const deltas: Delta[] = [];
    for (const f of driver.stream.frames.slice(fromFrame)) {
      if (f.event !== 'message_part') continue;
      const part = frameJson(f).part as { type?: string; text?: string };
      if (part.type === 'text' && part.text) deltas.push({ at: f.at, text: part.text });
    }
    return {
      ok: timing.status === 'waiting',
      ttftMs: timing.firstPartAt === null ? null : timing.firstPartAt - timing.sentAt,
      totalMs: timing.endAt - timing.sentAt,
      text: deltas.map((d) => d.text).join(''),
      deltas,
      ...(timing.status === 'waiting' ? {} : { error: timing.status }),
      sentAt: timing.sentAt,
    };
  }

  async storedAnswers(threadId: string): Promise<number> {
    const [row] = await this.pg.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM chat_messages WHERE chat_id = $1 AND role = 'assistant' AND NOT deleted",
      [threadId],
    );
    return row?.n ?? 0;
  }

  settle(threadId: string): Promise<void> {
    return waitRunClosed(this.temporal, threadId);
  }

  close(): void {
    for (const d of this.drivers.values()) d.close();
    this.drivers.clear();
  }
}

export interface LoopResult {
  threads: number;
  turns: number;
  errors: number;
  seconds: number;
  turnsPerS: number;
  latencies: number[];
}

/**
 * Closed loop: `threads` warm threads each send their next turn as soon as the previous one ended,
 * for `seconds`; turns/s = completed turns ÷ (last completion − window start).
 */
export async function closedLoopOf(
  system: TurnSystem,
  threads: number,
  knobs: Knobs,
  seconds: number,
): Promise<LoopResult> {
  const ids = await Promise.all(Array.from({ length: threads }, () => system.newThread(knobs)));
  const result: LoopResult = { threads, turns: 0, errors: 0, seconds: 0, turnsPerS: 0, latencies: [] };
  const start = nowMs();
  const until = start + seconds * 1000;
  let lastEnd = start;
  await Promise.all(
    ids.map(async (id) => {
      for (let t = 0; nowMs() < until; t++) {
        const r = await system.turn(id, `message ${t}`, knobs, 30_000);
        if (r.ok) {
          result.turns += 1;
          result.latencies.push(r.totalMs);
          lastEnd = Math.max(lastEnd, nowMs());
        } else {
          result.errors += 1;
          if (result.errors > threads * 3) return;
        }
      }
    }),
  );
  result.seconds = Math.max(0.001, (lastEnd - start) / 1000);
  result.turnsPerS = result.turns / result.seconds;
  return result;
}
