/**
 * chatd's HTTP API as the load generator uses it: JSON requests with the admin token (keep-alive,
 * many sockets), timed; chat creation and messages; interrupts; and model configs for fake-LLM knob
 * sets (`fake?ttft=0&tokens=20…`), created once per knob string through the admin API.
 */
import * as http from 'node:http';
import { nowMs } from './stats';

export interface Timed<T> {
  status: number;
  body: T;
  /** Request sent → response body read, ms. */
  ms: number;
  sentAt: number;
  doneAt: number;
}

/** A fake-LLM knob set, rendered into the model name. */
export type Knobs = Record<string, string | number | boolean | undefined>;

export function knobModel(knobs: Knobs): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(knobs))
    if (v !== undefined && v !== false) params.set(k, v === true ? '1' : String(v));
  return `fake?${params.toString()}`;
}

export class ChatdApi {
  readonly agent = new http.Agent({ keepAlive: true, maxSockets: 512 });
  private readonly models = new Map<string, Promise<string>>();
  private providerId: Promise<string> | null = null;

  constructor(
    public baseUrl: string,
    readonly token: string,
    private readonly fakeOpenAiBaseUrl: string,
  ) {}

  /** Sends a JSON request; never throws on HTTP status (the caller checks). */
  request<T = any>(method: string, path: string, body?: unknown): Promise<Timed<T>> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const url = new URL(`${this.baseUrl}/api/v1${path}`);
    const sentAt = nowMs();
    return new Promise<Timed<T>>((resolve, reject) => {
      const req = http.request(
        url,
        {
          method,
          agent: this.agent,
          headers: {
            Authorization: `Bearer ${this.token}`,
            ...(payload !== undefined
              ? { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(payload) }
              : {}),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const doneAt = nowMs();
            const text = Buffer.concat(chunks).toString('utf8');
            let parsed: unknown = undefined;
            try {
              parsed = text ? JSON.parse(text) : undefined;
            } catch {
              parsed = text;
            }
            resolve({ status: res.statusCode ?? 0, body: parsed as T, ms: doneAt - sentAt, sentAt, doneAt });
          });
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      if (payload !== undefined) req.write(payload);
      req.end();
    });
  }

  /** Like request() but throws unless the status is `expect`. */
  async must<T = any>(method: string, path: string, body: unknown, expect: number): Promise<Timed<T>> {
    const res = await this.request<T>(method, path, body);
    if (res.status !== expect) {
      throw new Error(`${method} ${path}: HTTP ${res.status} ${JSON.stringify(res.body).slice(0, 300)}`);
    }
    return res;
  }

  /** The model config id for a fake knob set (created on first use; the first one is the default). */
  modelConfig(knobs: Knobs): Promise<string> {
    const model = knobModel(knobs);
    let id = this.models.get(model);
    if (!id) {
      id = this.createModelConfig(model);
      this.models.set(model, id);
    }
    return id;
  }

  /** Creates a chat with a first message; resolves with its id and the timed response. */
  async createChat(text: string, modelConfigId: string): Promise<{ id: string; res: Timed<any> }> {
    const res = await this.must(
      'POST',
      '/chats',
      { content: [{ type: 'text', text }], model_config_id: modelConfigId },
      201,
    );
    return { id: res.body.id as string, res };
  }

  /** Sends a message to an idle chat (starts a turn). */
  sendMessage(chatId: string, text: string): Promise<Timed<any>> {
    return this.must('POST', `/chats/${chatId}/messages`, { content: [{ type: 'text', text }] }, 200);
  }

  interrupt(chatId: string): Promise<Timed<any>> {
    return this.must('POST', `/chats/${chatId}/interrupt`, undefined, 200);
  }

  streamUrl(chatId: string): string {
    return `${this.baseUrl}/api/v1/chats/${chatId}/stream`;
  }

  close(): void {
    this.agent.destroy();
  }

  private async createModelConfig(model: string): Promise<string> {
    this.providerId ??= this.must(
      'POST',
      '/chat-providers',
      { provider: 'openai-compat', api_key: 'bench', base_url: this.fakeOpenAiBaseUrl, api_mode: 'chat' },
      201,
    ).then((r) => r.body.id as string);
    const providerId = await this.providerId;
    const isFirst = this.models.size === 1;
    const res = await this.must(
      'POST',
      '/model-configs',
      {
        provider_id: providerId,
        model,
        context_limit: 1_000_000,
        compression_threshold: 100,
        ...(isFirst ? { is_default: true } : {}),
      },
      201,
    );
    return res.body.id as string;
  }
}
