/**
 * `chatd chat [chat-id] [--url URL] [--token TOKEN] [--list]` (README "Terminal client"): a terminal
 * client on the typed client (src/client), which is all it talks to the server through
 * (.dependency-cruiser.cjs `terminal-uses-the-client`). The URL comes from `--url`, CHATD_URL or
 * http://127.0.0.1:8080; the token from `--token`, CHATD_TOKEN, or the admin token `chatd start`
 * stores in `<CHATD_DATA_DIR or .data>/admin-token`.
 */
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { createChatdClient, unwrap } from '../client';
import { formatChatLine } from './render';
import { HELP, runSession } from './session';

export const CHAT_USAGE = 'usage: chatd chat [chat-id] [--url URL] [--token TOKEN] [--list] [--help]';
const DEFAULT_URL = 'http://127.0.0.1:8080';

/** A mistake in the command line or the environment: its message is the whole report. */
export class ChatUsageError extends Error {}

export interface ChatCommand {
  url: string;
  token: string;
  chatId?: string;
  list: boolean;
}

/** Reads the arguments after `chat` and the environment into what the command needs. */
export function parseChatCommand(argv: string[], env: NodeJS.ProcessEnv): ChatCommand {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        url: { type: 'string' },
        token: { type: 'string' },
        list: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (error) {
    throw new ChatUsageError(`${(error as Error).message}\n${CHAT_USAGE}`);
  }
  const { values, positionals } = parsed;
  if (positionals.length > 1) throw new ChatUsageError(CHAT_USAGE);
  const tokenFile = path.join(env.CHATD_DATA_DIR || '.data', 'admin-token');
  const token =
    values.token ?? (env.CHATD_TOKEN || (existsSync(tokenFile) ? readFileSync(tokenFile, 'utf8').trim() : ''));
  if (!token) {
    throw new ChatUsageError(
      `chatd chat: no API token. Pass --token, set CHATD_TOKEN, or run \`chatd start\` first (it stores ${tokenFile}).`,
    );
  }
  return {
    url: values.url ?? (env.CHATD_URL || DEFAULT_URL),
    token,
    ...(positionals[0] ? { chatId: positionals[0] } : {}),
    list: values.list ?? false,
  };
}

/** Runs the command; `env` is the process environment (src/main passes it). */
export async function runChat(argv: string[], env: NodeJS.ProcessEnv): Promise<void> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(`${CHAT_USAGE}\n${HELP}\n`);
    return;
  }
  const command = parseChatCommand(argv, env);
  const client = createChatdClient({ baseUrl: command.url, token: command.token });
  if (command.list) {
    const page = unwrap(await client.api.GET('/chats', { params: { query: {} } }));
    for (const chat of page.chats) process.stdout.write(`${formatChatLine(chat)}\n`);
    return;
  }
  await runSession({
    client,
    chatId: command.chatId,
    input: process.stdin,
    output: process.stdout,
    color: Boolean(process.stdout.isTTY) && !env.NO_COLOR,
  });
}
