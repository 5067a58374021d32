/**
 * The interactive half of `chatd chat` (README "Terminal client"): a readline prompt over one chat.
 * One stream per open chat (`streamChat` after the last message printed) drives the output through
 * an EventRenderer; a `status` in IDLE_STATUSES ends the turn and shows the prompt again. Lines typed
 * while a turn runs are sent too: the server queues them. Ctrl-C interrupts a running turn and
 * exits at an idle prompt (or when pressed twice in a row).
 */
import * as readline from 'node:readline';
import { ChatdApiError, IDLE_STATUSES, unwrap, type ChatdClient, type ChatStatus } from '../client';
import { EventRenderer, formatChatLine } from './render';

export const PROMPT = 'you> ';

export const HELP = [
  'commands:',
  '  /list                     your chats',
  '  /new                      start a new chat with the next message',
  '  /open <chat-id>           continue a chat',
  '  /approve <call-id>        run a tool call that waits for approval',
  '  /deny <call-id> [reason]  refuse it (the model reads the reason)',
  '  /quit                     exit (also Ctrl-C at the prompt or Ctrl-D)',
  'Ctrl-C while an answer runs interrupts it; lines typed meanwhile are queued.',
].join('\n');

/** Two Ctrl-C within this time exit even while a turn runs. */
const DOUBLE_CTRL_C_MS = 1000;

const BUSY_STATUSES: readonly ChatStatus[] = ['pending', 'running', 'requires_action'];

export interface SessionOptions {
  client: ChatdClient;
  chatId?: string;
  input: NodeJS.ReadableStream;
  output: NodeJS.WritableStream & { isTTY?: boolean };
  color: boolean;
}

export async function runSession(options: SessionOptions): Promise<void> {
  const { client, output } = options;
  const { api } = client;
  const rl = readline.createInterface({
    input: options.input,
    output,
    prompt: PROMPT,
    terminal: Boolean(output.isTTY),
  });
  let renderer = new EventRenderer({ color: options.color });
  let chatId: string | undefined;
  let stream: AbortController | undefined;
  let busy = false;
  let lastCtrlC = 0;
  /** Tool calls waiting for a decision: call id → the chat that decides it (a sub-agent's, maybe). */
  const waiting = new Map<string, string>();

  const write = (text: string): void => {
    if (text) output.write(text);
  };
  const say = (text: string): void => write(renderer.flush() + text + '\n');
  const prompt = (): void => {
    if (!busy) rl.prompt();
  };
  const failed = (error: unknown): void => {
    say(
      error instanceof ChatdApiError ? `error: ${error.message} (${error.code})` : `error: ${(error as Error).message}`,
    );
  };

  const closeStream = (): void => {
    stream?.abort();
    stream = undefined;
  };

  /** Follows the chat's stream until it is closed or ends, printing each event. */
  async function follow(id: string, afterMessageId: number | undefined, controller: AbortController): Promise<void> {
    try {
      for await (const event of client.streamChat(id, { signal: controller.signal, afterMessageId })) {
        if (controller.signal.aborted) return;
        if (event.type === 'action_required') waiting.set(event.approval.call_id, event.approval.chat_id);
        if (event.type === 'action_decided') waiting.delete(event.approval.call_id);
        write(renderer.render(event));
        if (event.type === 'status') {
          const wasBusy = busy;
          busy = BUSY_STATUSES.includes(event.status);
          if (IDLE_STATUSES.includes(event.status) && wasBusy) {
            write(renderer.flush());
            prompt();
          } else if (event.status === 'requires_action') {
            rl.prompt();
          }
        }
      }
      if (!controller.signal.aborted) say('(the stream ended)');
    } catch (error) {
      if (!controller.signal.aborted) failed(error);
    }
    if (!controller.signal.aborted) {
      busy = false;
      prompt();
    }
  }

  /** Opens a chat: prints its latest messages, then follows its stream from after them. */
  async function open(id: string, history: boolean): Promise<void> {
    closeStream();
    renderer = new EventRenderer({ color: options.color });
    waiting.clear();
    let after: number | undefined;
    if (history) {
      const page = unwrap(await api.GET('/chats/{id}/messages', { params: { path: { id } } }));
      const chat = unwrap(await api.GET('/chats/{id}', { params: { path: { id } } }));
      say(`chat ${chat.id}: ${chat.title}${page.has_more ? ' (older messages not shown)' : ''}`);
      for (const message of page.messages) write(renderer.renderMessage(message));
      after = page.messages.at(-1)?.id ?? 0;
      busy = BUSY_STATUSES.includes(chat.status);
    }
    chatId = id;
    const controller = new AbortController();
    stream = controller;
    void follow(id, after, controller);
  }

  async function send(text: string): Promise<void> {
    const body = { content: [{ type: 'text' as const, text }] };
    busy = true;
    if (!chatId) {
      const chat = unwrap(await api.POST('/chats', { body }));
      say(`(new chat ${chat.id})`);
      await open(chat.id, false);
      // Before the stream's first event can arrive: open() only started the request.
      renderer.sent(text);
      return;
    }
    renderer.sent(text);
    unwrap(await api.POST('/chats/{id}/messages', { params: { path: { id: chatId } }, body }));
  }

  async function list(): Promise<void> {
    const page = unwrap(await api.GET('/chats', { params: { query: {} } }));
    say(page.chats.length ? page.chats.map(formatChatLine).join('\n') : '(no chats)');
  }

  async function decide(callId: string | undefined, decision: 'approve' | 'deny', reason: string): Promise<void> {
    if (!callId) return say(`usage: /${decision} <call-id>${decision === 'deny' ? ' [reason]' : ''}`);
    const id = waiting.get(callId) ?? chatId;
    if (!id) return say('no chat is open');
    const body = decision === 'deny' && reason ? { decision, reason } : { decision };
    const approval = unwrap(
      await api.POST('/chats/{id}/tool-calls/{callId}/decision', { params: { path: { id, callId } }, body }),
    );
    waiting.delete(callId);
    say(`(${approval.tool_name} ${callId}: ${approval.decision ?? decision})`);
  }

  /** Handles one typed line; returns false to exit. */
  async function handle(line: string): Promise<boolean> {
    const text = line.trim();
    if (!text) return true;
    if (!text.startsWith('/')) {
      await send(text);
      return true;
    }
    const [command, arg, ...rest] = text.split(/\s+/);
    switch (command) {
      case '/quit':
      case '/exit':
        return false;
      case '/help':
        say(HELP);
        break;
      case '/list':
        await list();
        break;
      case '/new':
        closeStream();
        chatId = undefined;
        busy = false;
        renderer = new EventRenderer({ color: options.color });
        say('(the next message starts a new chat)');
        break;
      case '/open':
        if (!arg) say('usage: /open <chat-id>');
        else await open(arg, true);
        break;
      case '/approve':
        await decide(arg, 'approve', '');
        break;
      case '/deny':
        await decide(arg, 'deny', rest.join(' '));
        break;
      default:
        say(`unknown command ${command}; /help lists them`);
    }
    return true;
  }

  const done = new Promise<void>((resolve) => {
    let queue = Promise.resolve();
    const exit = (): void => {
      closeStream();
      rl.close();
    };
    rl.on('close', () => {
      closeStream();
      resolve();
    });
    rl.on('line', (line) => {
      // One line at a time, in order: a message typed during a turn is sent after the one before it.
      queue = queue.then(async () => {
        try {
          if (!(await handle(line))) return exit();
        } catch (error) {
          failed(error);
          busy = false;
        }
        prompt();
      });
    });
    rl.on('SIGINT', () => {
      const now = Date.now();
      const twice = now - lastCtrlC < DOUBLE_CTRL_C_MS;
      lastCtrlC = now;
      if (!busy || !chatId || twice) {
        write(renderer.flush() + '\n');
        return exit();
      }
      say('^C interrupted (partial answer kept)');
      void api.POST('/chats/{id}/interrupt', { params: { path: { id: chatId } } }).then(unwrap, failed);
    });
  });

  if (options.chatId) {
    try {
      await open(options.chatId, true);
    } catch (error) {
      rl.close();
      await done;
      throw error;
    }
  } else {
    say('chatd chat: type a message to start a chat; /help lists the commands.');
  }
  prompt();
  await done;
}
