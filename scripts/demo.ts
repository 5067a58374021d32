/**
 * `npm run demo`: an offline tour. Starts the fake LLM in-process (docs/fake-llm.md; real HTTP, here
 * as an OpenAI-compatible Chat Completions endpoint) and chatd with embedded defaults under
 * .data/demo, configures a provider and default model through the admin API, creates a chat and
 * prints the answer as it streams over SSE. Needs no API key.
 */
import * as path from 'node:path';
import { DefaultLogger, Runtime } from '@temporalio/worker';
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
    const api = async (method: string, route: string, body?: unknown): Promise<any> => {
      const res = await fetch(`${chatd.apiUrl}/api/v1${route}`, {
        method,
        headers: { Authorization: `Bearer ${chatd.token}`, 'Content-Type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const json: any = await res.json();
      if (!res.ok) throw new Error(`${method} ${route}: ${res.status} ${JSON.stringify(json)}`);
      return json;
    };

    const configs: any[] = await api('GET', '/model-configs');
    if (!configs.some((c) => c.model === 'fake-demo')) {
      const provider = await api('POST', '/chat-providers', {
        provider: 'openai-compat',
        display_name: 'Fake LLM (demo)',
        base_url: fake.openaiBaseUrl,
        api_key: 'demo',
      });
      await api('POST', '/model-configs', {
        provider_id: provider.id,
        model: 'fake-demo',
        context_limit: 128000,
        is_default: true,
      });
    }
    // The provider's address changes every run: point the demo provider at this run's fake.
    await chatd.deps.db
      .updateTable('chat_providers')
      .set({ base_url: fake.openaiBaseUrl })
      .where('display_name', '=', 'Fake LLM (demo)')
      .execute();
    chatd.deps.models.invalidate();

    const question = 'Hello chatd! What happens to my chat if a worker crashes?';
    const chat = await api('POST', '/chats', { content: [{ type: 'text', text: question }] });
    say(`chat ${chat.id} created; its turn runs as Temporal workflow chat-${chat.id}`);
    process.stdout.write(`\nyou> ${question}\nagent> `);

    const res = await fetch(`${chatd.apiUrl}/api/v1/chats/${chat.id}/stream`, {
      headers: { Authorization: `Bearer ${chatd.token}` },
    });
    const decoder = new TextDecoder();
    let buffer = '';
    outer: for await (const chunk of res.body!) {
      buffer += decoder.decode(chunk as Uint8Array, { stream: true });
      let sep: number;
      while ((sep = buffer.indexOf('\n\n')) >= 0) {
        const frame = buffer.slice(0, sep);
        buffer = buffer.slice(sep + 2);
        const type = /^event: (.*)$/m.exec(frame)?.[1];
        const data = /^data: (.*)$/m.exec(frame)?.[1];
        if (!type || !data) continue;
        const event = JSON.parse(data);
        if (type === 'message_part' && event.part.type === 'text') process.stdout.write(event.part.text);
        if (type === 'status' && (event.status === 'waiting' || event.status === 'error')) break outer;
      }
    }
    process.stdout.write('\n\n');
    const messages = await api('GET', `/chats/${chat.id}/messages`);
    say(
      `persisted ${messages.messages.length} messages; the turn is visible with: temporal workflow show -w chat-${chat.id} --address ${chatd.temporalAddress}`,
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
