/**
 * `npm run demo`: an offline tour. Starts the fake LLM in-process (docs/fake-llm.md; real HTTP, here
 * as an OpenAI-compatible Chat Completions endpoint) and chatd with embedded defaults under
 * .data/demo, configures a provider and default model through the admin API, creates a chat whose
 * agent runs a command in a workspace, and prints the answer as it streams over SSE, all through the
 * typed client (src/client, README "Client"). Then it opens that chat in the playground (README
 * "Playground") and keeps serving until Ctrl-C; later chats get the fake's demo answer.
 * Needs no API key. Flags: `--exit` stops after the first answer; `--screenshot <file.png>` saves
 * the playground's view of the chat (headless Chromium) and stops.
 */
import * as path from 'node:path';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { createChatdClient, IDLE_STATUSES, unwrap } from '../src/client';
import { parseConfig } from '../src/config';
import { freePort } from '../src/infra/embedded-postgres';
import { createLogger } from '../src/log';
import { startEmbedded } from '../src/main/dev';
import { createKnobResponder, DEMO_KNOBS, FakeLlmServer } from '../src/dev/fake-llm';
import { text, toolCalls } from '../src/dev/fake-llm/script';
import { signedInUrl } from '../src/client/playground-link';
import { openInBrowser, screenshotChat } from './demo-browser';

const args = process.argv.slice(2);
const screenshot = args.includes('--screenshot') ? args[args.indexOf('--screenshot') + 1] : undefined;
const stayUp = !args.includes('--exit') && !screenshot;

async function main(): Promise<void> {
  const say = (line: string): void => void process.stderr.write(`[demo] ${line}\n`);
  Runtime.install({ logger: new DefaultLogger('ERROR') });
  const fake = await FakeLlmServer.start({ fallback: createKnobResponder(DEMO_KNOBS) });
  say(`fake LLM listening on ${fake.url}`);

  const [port, temporalPort, uiPort] = [await freePort(), await freePort(), await freePort()];
  const config = parseConfig({
    CHATD_DATA_DIR: path.resolve('.data/demo'),
    CHATD_HTTP_PORT: String(port),
    CHATD_TEMPORAL_PORT: String(temporalPort),
    CHATD_TEMPORAL_UI_PORT: String(uiPort),
    CHATD_LOG_LEVEL: 'warn',
  });
  const chatd = await startEmbedded(config, createLogger('warn', 'chatd-demo'), say);
  try {
    const client = createChatdClient({ baseUrl: chatd.apiUrl, token: chatd.token });
    const configs = unwrap(await client.api.GET('/model-configs'));
    if (!configs.some((c) => c.model === 'fake-demo')) {
      const provider = unwrap(
        await client.api.POST('/chat-providers', {
          body: {
            provider: 'openai-compat',
            display_name: 'Fake LLM (demo)',
            base_url: fake.openaiBaseUrl,
            api_key: 'demo',
          },
        }),
      );
      unwrap(
        await client.api.POST('/model-configs', {
          body: { provider_id: provider.id, model: 'fake-demo', context_limit: 128000, is_default: true },
        }),
      );
    }
    // The provider's address changes every run: point the demo provider at this run's fake (with its
    // key again: a key is bound to the address it was entered for).
    const demoProvider = unwrap(await client.api.GET('/chat-providers')).find(
      (p) => p.display_name === 'Fake LLM (demo)',
    );
    if (demoProvider) {
      unwrap(
        await client.api.PATCH('/chat-providers/{id}', {
          params: { path: { id: demoProvider.id } },
          body: { base_url: fake.openaiBaseUrl, api_key: 'demo' },
        }),
      );
    }

    // The first chat is scripted: a workspace, one command in it, then an answer. Only the turn's
    // own requests (the ones offering tools) take a scripted step; title requests get the demo text.
    const pace = { tokensPerSecond: 40, firstTokenDelayMs: 250 };
    const script = [
      toolCalls([{ name: 'create_workspace', args: { template_id: 'empty' } }], pace),
      toolCalls([{ name: 'execute', args: { command: 'uname -sr && ls -la' } }], pace),
      text(
        "The command ran inside the chat's sandboxed workspace. If a worker crashes mid-turn, Temporal " +
          'retries the step on another worker; every finished step is already in PostgreSQL, so nothing is lost.',
        pace,
      ),
    ];
    fake.respondTo('fake-demo', (req) =>
      (req.body as { tools?: unknown[] }).tools?.length ? script.shift() : undefined,
    );
    const question = 'Hello chatd! Run a command in a workspace, then tell me what happens if a worker crashes.';
    const chat = unwrap(await client.api.POST('/chats', { body: { content: [{ type: 'text', text: question }] } }));
    say(`chat ${chat.id} created; its turn runs as Temporal workflow chat-${chat.id}`);
    process.stdout.write(`\nyou> ${question}\nagent> `);

    // The typed stream helper (src/client/stream.ts): reconnects with Last-Event-ID if the connection drops.
    for await (const event of client.streamChat(chat.id)) {
      if (event.type === 'message_part' && event.part.type === 'text') process.stdout.write(event.part.text ?? '');
      if (event.type === 'message_part' && event.part.type === 'tool-call' && event.part.args !== undefined) {
        process.stdout.write(`→ ${event.part.tool_name} ${JSON.stringify(event.part.args)}\n`);
      }
      if (event.type === 'status' && IDLE_STATUSES.includes(event.status)) break;
    }
    process.stdout.write('\n\n');
    const page = unwrap(await client.api.GET('/chats/{id}/messages', { params: { path: { id: chat.id } } }));
    say(
      `persisted ${page.messages.length} messages; the turn is visible with: temporal workflow show -w chat-${chat.id} --address ${chatd.temporalAddress}`,
    );
    const url = signedInUrl(chatd.apiUrl, chatd.token, `/chats/${chat.id}`);
    if (screenshot) {
      await screenshotChat(url, path.resolve(screenshot));
      say(`saved ${screenshot}`);
    } else if (stayUp) {
      say(`the chat in the playground: ${url}`);
      openInBrowser(url, say);
      say('serving until Ctrl-C');
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
    }
  } finally {
    await chatd.stop();
    await fake.close();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
