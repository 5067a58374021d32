/**
 * Drives one chat like a UI does: keeps its SSE stream open, sends a message, and times the turn
 * from the POST to the first streamed token and to the chat being idle again. The end of a turn is
 * the `status: waiting` frame; if that frame does not come (a lost or very late status hint) the
 * database is polled after a grace period, and a frame still missing 0.5 s after the database showed
 * the chat idle is counted, since a real client would wait that long or hang.
 */
import type { Client } from '@temporalio/client';
import type { ChatdApi, Timed } from './api';
import type { PgProbe } from './pg-stats';
import { isStatus, SseStream, type Frame, type SseOptions } from './sse';
import { nowMs, sleep } from './stats';

export interface TurnTiming {
  turn: number;
  sentAt: number;
  /** POST acknowledged. */
  ackAt: number;
  /** First `message_part` frame (null if none arrived). */
  firstPartAt: number | null;
  firstPart: Frame | null;
  /** Chat idle again (waiting or error). */
  endAt: number;
  status: 'waiting' | 'error' | 'timeout';
  /** True when the end was found by polling the database, not by a status frame. */
  missedStatusFrame: boolean;
  /** Index of the first frame of this turn in the stream. */
  fromFrame: number;
}

export class ChatDriver {
  turn = 1;

  private constructor(
    private readonly api: ChatdApi,
    private readonly pg: PgProbe,
    readonly chatId: string,
    public stream: SseStream,
  ) {}

  /** Creates a chat (its first turn starts at once) and opens its stream. */
  static async create(
    api: ChatdApi,
    pg: PgProbe,
    modelConfigId: string,
    text: string,
    sse: SseOptions = {},
  ): Promise<{ driver: ChatDriver; created: Timed<any> }> {
    const { id, res } = await api.createChat(text, modelConfigId);
    const stream = new SseStream(api.streamUrl(id), api.token, { agent: api.agent, ...sse });
    return { driver: new ChatDriver(api, pg, id, stream), created: res };
  }

  /** Waits for the running turn (the first one after create) to end. */
  async waitIdle(
    fromFrame: number,
    timeoutMs: number,
  ): Promise<{ status: TurnTiming['status']; missed: boolean; at: number }> {
    let settled = false;
    const byFrame = this.stream
      .waitFor((f) => isStatus(f, 'waiting') || isStatus(f, 'error'), timeoutMs, fromFrame)
      .then((f) => ({
        status: (isStatus(f, 'error') ? 'error' : 'waiting') as TurnTiming['status'],
        missed: false,
        at: f.at,
      }));
    const byPoll = (async () => {
      const started = Date.now();
      await sleep(Math.min(3000, timeoutMs));
      while (!settled && Date.now() - started < timeoutMs) {
        const [row] = await this.pg.query<{ status: string; turn: number }>(
          'SELECT status::text AS status, turn FROM chats WHERE id = $1',
          [this.chatId],
        );
        if (row && row.turn >= this.turn && (row.status === 'waiting' || row.status === 'error')) {
          const at = nowMs();
          // Give a late frame a last moment, so only a real miss counts.
          await sleep(500);
          return { status: row.status as TurnTiming['status'], missed: true, at };
        }
        await sleep(250);
      }
      return new Promise<never>(() => undefined);
    })();
    byFrame.catch(() => undefined);
    try {
      return await Promise.race([byFrame, byPoll]);
    } catch {
      return { status: 'timeout', missed: false, at: nowMs() };
    } finally {
      settled = true;
    }
  }

  /** Sends a message on the idle chat and waits for the turn to end. */
  async send(text: string, timeoutMs = 60_000): Promise<TurnTiming> {
    const fromFrame = this.stream.frames.length;
    const res = await this.api.sendMessage(this.chatId, text);
    this.turn += 1;
    return this.finish(res, fromFrame, timeoutMs);
  }

  /** Times the turn begun by `res` (a create or send response). */
  async finish(res: Timed<any>, fromFrame: number, timeoutMs: number): Promise<TurnTiming> {
    const end = await this.waitIdle(fromFrame, timeoutMs);
    const firstPart = this.stream.frames.slice(fromFrame).find((f) => f.event === 'message_part') ?? null;
    return {
      turn: this.turn,
      sentAt: res.sentAt,
      ackAt: res.doneAt,
      firstPartAt: firstPart?.at ?? null,
      firstPart,
      endAt: end.at,
      status: end.status,
      missedStatusFrame: end.missed,
      fromFrame,
    };
  }

  close(): void {
    this.stream.close();
  }
}

/**
 * Waits until the chat's current workflow run closed (at most `timeoutMs`). A message sent while the
 * previous turn's run is still closing is handed over by continue-as-new, which Temporal delays to
 * about 1 s after that run's start (history.workflowIdReuseMinimalInterval); scenarios that measure
 * something else wait for the close first.
 */
export async function waitRunClosed(client: Client, chatId: string, timeoutMs = 3000): Promise<void> {
  const handle = client.workflow.getHandle(`chat-${chatId}`);
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const d = await handle.describe().catch(() => null);
    if (d && d.status.name !== 'RUNNING') return;
    await sleep(25);
  }
}
