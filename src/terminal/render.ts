/**
 * The pure half of `chatd chat` (README "Terminal client"): chat stream events
 * (docs/stream-events.md) in, terminal text out. An EventRenderer keeps what it needs to print each
 * thing once: answer text streams as `message_part` deltas, and the `message` that stores the step
 * afterwards prints nothing more; a message nobody streamed to this client (history, another
 * device's message) prints whole.
 */
import type { Chat, ChatMessage, ChatMessagePart, ChatStreamEnd, StreamEvent } from '../client';

/** How many characters of a tool result `← tool: …` shows. */
export const RESULT_PREVIEW_CHARS = 200;

export interface RenderOptions {
  /** ANSI styles (dim reasoning, red errors); off when stdout is no terminal or NO_COLOR is set. */
  color: boolean;
}

type Mode = 'line' | 'text' | 'reasoning';

const oneLine = (value: string): string => value.replace(/\s+/g, ' ').trim();

function preview(value: unknown, max = RESULT_PREVIEW_CHARS): string {
  const raw = typeof value === 'string' ? value : (JSON.stringify(value) ?? String(value));
  const flat = oneLine(raw);
  return flat.length > max ? `${flat.slice(0, max)}…` : flat;
}

const argsText = (args: unknown): string => (args === undefined ? '{}' : preview(args, 500));

/** One chat of `--list` and `/list`: id, status, title. */
export function formatChatLine(chat: Pick<Chat, 'id' | 'status' | 'title'>): string {
  return `${chat.id}  ${chat.status.padEnd(15)}  ${chat.title}`;
}

export class EventRenderer {
  private mode: Mode = 'line';
  /** Assistant deltas were printed since the last stored assistant message. */
  private streamedAssistant = false;
  /** Tool calls and results already printed, by call id. */
  private readonly shownCalls = new Set<string>();
  private readonly shownResults = new Set<string>();
  /** Texts this client sent, so their echo on the stream is not printed again. */
  private readonly ownTexts: string[] = [];
  private queued = 0;

  constructor(private readonly options: RenderOptions) {}

  private style(code: string, text: string): string {
    return this.options.color ? `\x1b[${code}m${text}\x1b[0m` : text;
  }

  /** Notices that came in the middle of a streamed line, printed once it ends. */
  private readonly deferred: string[] = [];

  /** Whatever is needed to leave the cursor at the start of an empty line (and the deferred notices). */
  flush(): string {
    const out = (this.mode === 'line' ? '' : '\n') + this.deferred.map((note) => `${note}\n`).join('');
    this.mode = 'line';
    this.deferred.length = 0;
    return out;
  }

  /** A line of its own, after the streamed line it may interrupt. */
  private line(text: string): string {
    return `${this.flush()}${text}\n`;
  }

  /** A notice that does not break a streamed line: it waits for the line's end. */
  private notice(text: string): string {
    if (this.mode === 'line') return `${text}\n`;
    this.deferred.push(text);
    return '';
  }

  /** Remembers a message the user typed here: its stored copy on the stream is not printed again. */
  sent(text: string): void {
    this.ownTexts.push(text);
  }

  private delta(kind: 'text' | 'reasoning', text: string): string {
    let out = '';
    if (this.mode !== kind) {
      if (this.mode !== 'line') out += '\n';
      out += kind === 'reasoning' ? this.style('2', '(thinking) ') : '';
      this.mode = kind;
    }
    return out + (kind === 'reasoning' ? this.style('2', text) : text);
  }

  private toolCall(part: ChatMessagePart): string {
    const id = part.tool_call_id ?? '';
    if (this.shownCalls.has(id)) return '';
    this.shownCalls.add(id);
    return this.line(`→ ${part.tool_name ?? 'tool'} ${argsText(part.args)}`);
  }

  private toolResult(part: ChatMessagePart): string {
    const id = part.tool_call_id ?? '';
    if (this.shownResults.has(id)) return '';
    this.shownResults.add(id);
    const text = `← ${part.tool_name ?? 'tool'}${part.is_error ? ' (error)' : ''}: ${preview(part.result)}`;
    return this.line(part.is_error ? this.style('31', text) : text);
  }

  /** A live fragment of the step streaming now. */
  private part(role: 'assistant' | 'tool', part: ChatMessagePart): string {
    if (role === 'assistant') this.streamedAssistant = true;
    switch (part.type) {
      case 'text':
        return this.delta('text', part.text ?? '');
      case 'reasoning':
        return this.delta('reasoning', part.text ?? '');
      case 'tool-call':
        // The start and the argument deltas carry no `args`; the complete call does.
        return part.args === undefined ? '' : this.toolCall(part);
      case 'tool-result':
        // Streamed pieces of a result (`result_delta`) wait for the whole result.
        return part.result === undefined ? '' : this.toolResult(part);
      case 'source':
        return this.line(`[source] ${part.title ?? ''} ${part.url ?? ''}`.trim());
      default:
        return '';
    }
  }

  /** A whole stored message, as history shows it. */
  renderMessage(message: ChatMessage): string {
    let out = '';
    for (const part of message.content) {
      if (message.role === 'user') {
        if (part.type === 'text') out += this.line(`you: ${part.text ?? ''}`);
        else if (part.type === 'file') out += this.line(`you: [file ${part.file_name ?? part.file_id ?? ''}]`);
        continue;
      }
      if (part.type === 'text' || part.type === 'reasoning') {
        out += this.delta(part.type, part.text ?? '');
      } else {
        out += this.part(message.role === 'tool' ? 'tool' : 'assistant', part);
      }
    }
    this.streamedAssistant = false;
    return out + this.flush();
  }

  private stored(message: ChatMessage): string {
    if (message.role === 'user') {
      const text = message.content.map((p) => (p.type === 'text' ? (p.text ?? '') : '')).join('');
      const own = this.ownTexts.indexOf(text);
      if (own >= 0) {
        this.ownTexts.splice(own, 1);
        return '';
      }
      return this.renderMessage(message);
    }
    if (message.role === 'assistant' && this.streamedAssistant) {
      // The deltas were printed already; the stored message only ends the step.
      this.streamedAssistant = false;
      return this.flush();
    }
    return this.renderMessage(message);
  }

  /** The text an event adds to the terminal ('' for events shown as nothing). */
  render(event: StreamEvent | ChatStreamEnd): string {
    switch (event.type) {
      case 'message_part':
        return this.part(event.role, event.part);
      case 'message':
        return this.stored(event.message);
      case 'status':
        return event.status === 'requires_action'
          ? this.line('(waiting for approval: /approve <call_id> or /deny <call_id> [reason])')
          : '';
      case 'queue_update': {
        const count = event.queued_messages.length;
        const changed = count !== this.queued;
        this.queued = count;
        return changed && count > 0 ? this.line(`(queued: ${count})`) : '';
      }
      case 'retry':
        this.streamedAssistant = false;
        return this.line(
          this.style('33', `(retrying in ${Math.round(event.delay_ms / 1000)} s: ${oneLine(event.error.message)})`),
        );
      case 'error':
        return this.line(this.style('31', `error (${event.kind}): ${oneLine(event.message)}`));
      case 'title_change':
        return this.notice(`(title: ${event.title})`);
      case 'history_truncated':
        return this.line(`(history edited from message ${event.from_message_id})`);
      case 'action_required':
        return this.line(
          `? ${event.approval.tool_name} ${event.approval.args_omitted ? '(arguments too large to show)' : argsText(event.approval.args)}` +
            ` needs approval: /approve ${event.approval.call_id} or /deny ${event.approval.call_id}`,
        );
      case 'action_decided':
        return this.line(
          `(${event.approval.tool_name} ${event.approval.call_id}: ${event.approval.decision ?? 'decided'})`,
        );
      case 'turn_queued':
        return this.line(`(turn queued: position ${event.position})`);
      case 'stream_end':
        return this.line(`(stream ended: ${event.reason})`);
      default:
        return '';
    }
  }
}
