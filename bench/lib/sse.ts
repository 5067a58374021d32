/**
 * The load generator's SSE client for chatd streams, over node:http (lighter than fetch when
 * hundreds are open): parses frames as they arrive, stamps each with its arrival time, remembers
 * the last event id (to resume with Last-Event-ID), and lets a scenario wait for a frame. Fake-LLM
 * token stamps (`@<epoch ms> `) inside deltas are extracted without parsing the JSON.
 */
import * as http from 'node:http';
import { nowMs } from './stats';

export interface Frame {
  id: string | undefined;
  event: string;
  /** Raw `data:` payload (JSON text). */
  data: string;
  /** Arrival time (epoch ms, sub-ms precision). */
  at: number;
}

const STAMP = /@(\d{13}\.\d{3}) /g;

/** The emit stamps the fake LLM put into a text (one per token when `ts=1`). */
export function stampsIn(text: string): number[] {
  const out: number[] = [];
  for (const m of text.matchAll(STAMP)) out.push(Number(m[1]));
  return out;
}

export interface SseOptions {
  lastEventId?: string;
  /** Keep every frame (default true); false keeps only counters and stamp latencies. */
  keepFrames?: boolean;
  /** Called for every frame. */
  onFrame?: (frame: Frame) => void;
  agent?: http.Agent;
}

export class SseStream {
  readonly frames: Frame[] = [];
  /** Per received token stamp: arrival − stamp (ms). */
  readonly stampLatencies: number[] = [];
  frameCount = 0;
  partFrames = 0;
  status = 0;
  lastEventId: string | undefined;
  /** Time the response headers arrived. */
  openedAt: number | null = null;
  ended = false;
  readonly done: Promise<void>;
  private waiters: Array<() => void> = [];
  private request: http.ClientRequest | null = null;

  constructor(
    readonly url: string,
    private readonly token: string,
    private readonly options: SseOptions = {},
  ) {
    this.lastEventId = options.lastEventId;
    this.done = new Promise<void>((resolve) => this.open(resolve));
  }

  /** Resolves with the first kept frame (from index `from`) matching `predicate`. */
  waitFor(predicate: (f: Frame) => boolean, timeoutMs: number, from = 0): Promise<Frame> {
    const deadline = Date.now() + timeoutMs;
    return new Promise<Frame>((resolve, reject) => {
      let checked = from;
      const check = (): boolean => {
        for (; checked < this.frames.length; checked++) {
          const frame = this.frames[checked]!;
          if (predicate(frame)) {
            resolve(frame);
            return true;
          }
        }
        if (this.ended) {
          reject(new Error(`stream ended before the awaited frame (${this.url}, status ${this.status})`));
          return true;
        }
        if (Date.now() >= deadline) {
          reject(new Error(`timed out after ${timeoutMs} ms waiting for a frame on ${this.url}`));
          return true;
        }
        return false;
      };
      if (check()) return;
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== wake);
        check();
      }, deadline - Date.now());
      const wake = (): void => {
        if (check()) {
          clearTimeout(timer);
          return;
        }
        this.waiters.push(wake);
      };
      this.waiters.push(wake);
    });
  }

  close(): void {
    this.request?.destroy();
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  private open(resolve: () => void): void {
    const headers: Record<string, string> = { Authorization: `Bearer ${this.token}`, Accept: 'text/event-stream' };
    if (this.lastEventId) headers['Last-Event-ID'] = this.lastEventId;
    const finish = (): void => {
      if (this.ended) return;
      this.ended = true;
      this.wake();
      resolve();
    };
    const req = http.get(this.url, { headers, agent: this.options.agent ?? false }, (res) => {
      this.status = res.statusCode ?? 0;
      this.openedAt = nowMs();
      res.setEncoding('utf8');
      let buffer = '';
      res.on('data', (chunk: string) => {
        const at = nowMs();
        buffer += chunk;
        let sep: number;
        while ((sep = buffer.indexOf('\n\n')) >= 0) {
          this.parse(buffer.slice(0, sep), at);
          buffer = buffer.slice(sep + 2);
        }
        this.wake();
      });
      res.on('end', finish);
      res.on('close', finish);
      res.on('error', finish);
    });
    req.on('error', finish);
    req.on('close', finish);
    this.request = req;
  }

  private parse(block: string, at: number): void {
    let id: string | undefined;
    let event = 'message';
    let data = '';
    for (const line of block.split('\n')) {
      if (line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
      if (field === 'id') id = value;
      else if (field === 'event') event = value;
      else if (field === 'data') data = data ? `${data}\n${value}` : value;
    }
    if (!data) return;
    if (id !== undefined) this.lastEventId = id;
    const frame: Frame = { id, event, data, at };
    this.frameCount += 1;
    if (event === 'message_part') {
      this.partFrames += 1;
      for (const stamp of stampsIn(data)) this.stampLatencies.push(at - stamp);
    }
    if (this.options.keepFrames !== false) this.frames.push(frame);
    this.options.onFrame?.(frame);
  }
}

/** Parses a frame's JSON data. */
export function frameJson(frame: Frame): any {
  return JSON.parse(frame.data);
}

/** True for a `status` frame with the given status. */
export function isStatus(frame: Frame, status: string): boolean {
  return frame.event === 'status' && frame.data.includes(`"status":"${status}"`);
}

/** True for a persisted assistant `message` frame. */
export function isAssistantMessage(frame: Frame): boolean {
  return frame.event === 'message' && frame.data.includes('"role":"assistant"');
}
