/**
 * The NOTIFY wire format of the PostgreSQL stream bus: channel names (events and control per chat,
 * watch per owner), the JSON messages sent on them, and how an event is framed or split to stay under
 * NOTIFY's 8000-byte payload limit. Used by pg-stream-bus.ts (sends), pg-channel.ts (reads a chat's
 * events) and pg-listener.ts (parses what arrives).
 */
import type { ControlMessage, StreamEvent, WatchEvent } from './events';
import type { InFlightPosition, StepCopy } from './in-flight';

/** Bytes of one NOTIFY payload we allow ourselves (PostgreSQL's limit is 8000). */
const MAX_PAYLOAD = 7800;
/** Bytes of an event sent whole; the rest of the payload is the envelope. */
export const MAX_EVENT_BYTES = MAX_PAYLOAD - 200;

/**
 * One NOTIFY payload: an event (`e`, with its in-flight position), a persisted message or the queue
 * sent by reference (`msg`, `queue`: too big for a payload, loaded from the table), a batch of a
 * producer's copy of the in-flight step (`snap`), a watch event (`w`), a control message (`x`), and a
 * request for the in-flight step's copy (`snapreq`). An event carries its publish time (`t`, epoch
 * milliseconds, absent from older producers): receivers measure the bus lag with it.
 */
export type Wire =
  | { k: 'e'; e: StreamEvent; p?: string; s?: number; end?: string; t?: number }
  | { k: 'msg'; id: number; end?: string }
  | { k: 'queue' }
  | { k: 'snap'; o: string; p: string | null; f: number; s: number; e: StreamEvent[]; last: boolean }
  | { k: 'w'; e: WatchEvent }
  | { k: 'x'; m: ControlMessage }
  | { k: 'snapreq' };

const hex = (id: string): string => id.replace(/-/g, '').toLowerCase();
export const eventChannel = (chatId: string): string => `chatd_e_${hex(chatId)}`;
export const controlChannel = (chatId: string): string => `chatd_x_${hex(chatId)}`;
export const watchChannel = (ownerId: string): string => `chatd_w_${hex(ownerId)}`;
export const COPY_REQUEST = JSON.stringify({ k: 'snapreq' } satisfies Wire);

/** An event's wire message, built around its JSON (serialised once per publish). */
export function eventWire(json: string, at: InFlightPosition): string {
  const position = at.step === undefined ? '' : `,"p":${JSON.stringify(at.step)},"s":${at.seq}`;
  const end = at.ends === undefined ? '' : `,"end":${JSON.stringify(at.ends)}`;
  return `{"k":"e","e":${json}${position}${end},"t":${Date.now()}}`;
}

/** One batch of a step copy's wire message (`snap`), built around its parts' JSON (serialised once). */
export function copyWire(
  producer: string,
  copy: StepCopy | null,
  start: number,
  parts: string[],
  last: boolean,
): string {
  const step = copy ? JSON.stringify(copy.step) : 'null';
  return `{"k":"snap","o":${JSON.stringify(producer)},"p":${step},"f":${copy?.first ?? 0},"s":${start},"e":[${parts.join(',')}],"last":${last}}`;
}

/** A delta too long for one NOTIFY as several shorter parts (null if the event is not a delta). */
export function splitDelta(event: StreamEvent): StreamEvent[] | null {
  if (event.type !== 'message_part') return null;
  const { part } = event;
  const field = part.text !== undefined ? 'text' : part.args_delta !== undefined ? 'args_delta' : null;
  if (!field) return null;
  // Code points, not UTF-16 units, so a chunk never splits a surrogate pair.
  const chars = [...part[field]!];
  const size = Math.floor(MAX_PAYLOAD / 8);
  const chunks: StreamEvent[] = [];
  for (let start = 0; start < chars.length;) {
    const end = chunkEnd(chars, start, size);
    chunks.push({ ...event, part: { ...part, [field]: chars.slice(start, end).join('') } });
    start = end;
  }
  return chunks;
}

/** Where a chunk of at most `size` code points ends: after its last whitespace, so words stay whole. */
function chunkEnd(chars: string[], start: number, size: number): number {
  const limit = start + size;
  if (limit >= chars.length) return chars.length;
  for (let i = limit - 1; i > start + size / 2; i--) if (/\s/.test(chars[i]!)) return i + 1;
  return limit;
}
