/**
 * `npm run demo`: an offline tour. Starts the fake LLM in-process (docs/fake-llm.md; real HTTP, here
 * as an OpenAI-compatible Chat Completions endpoint) and chatd with embedded defaults under
 * .data/demo, configures a provider and default model through the admin API, creates a chat and
 * prints the answer as it streams over SSE, all through the typed client (src/client, README
 * "Client"). Needs no API key.
 */
import * as path from 'node:path';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { createChatdClient, IDLE_STATUSES, unwrap } from '../src/client';
import { parseConfig } from '../src/config';
import { freePort } from '../src/infra/embedded-postgres';
import { createLogger } from '../src/log';
import { startEmbedded } from '../src/main/dev';
import { createKnobResponder, DEMO_KNOBS, FakeLlmServer } from '../src/dev/fake-llm';

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
    // The provider's address changes every run: point the demo provider at this run's fake.
    await chatd.deps.db
      .updateTable('chat_providers')
      .set({ base_url: fake.openaiBaseUrl })
      .where('display_name', '=', 'Fake LLM (demo)')
      .execute();
    chatd.deps.models.invalidate();

    const question = 'Hello chatd! What happens to my chat if a worker crashes?';
    const chat = unwrap(await client.api.POST('/chats', { body: { content: [{ type: 'text', text: question }] } }));
    say(`chat ${chat.id} created; its turn runs as Temporal workflow chat-${chat.id}`);
    process.stdout.write(`\nyou> ${question}\nagent> `);

    // The typed stream helper (src/client/stream.ts): reconnects with Last-Event-ID if the connection drops.
    for await (const event of client.streamChat(chat.id)) {
      if (event.type === 'message_part' && event.part.type === 'text') process.stdout.write(event.part.text ?? '');
      if (event.type === 'status' && IDLE_STATUSES.includes(event.status)) break;
    }
    process.stdout.write('\n\n');
    const page = unwrap(await client.api.GET('/chats/{id}/messages', { params: { path: { id: chat.id } } }));
    say(
      `persisted ${page.messages.length} messages; the turn is visible with: temporal workflow show -w chat-${chat.id} --address ${chatd.temporalAddress}`,
    );
  } finally {
    await chatd.stop();
    await fake.close();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
