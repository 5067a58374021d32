/**
 * FakeLlmServer: a real node:http server on 127.0.0.1 that answers OpenAI Chat Completions, OpenAI Responses
 * and Anthropic Messages requests from a FIFO script of FakeSteps (or a fallback responder), records every
 * request, refuses a body the real provider would refuse with that provider's 400 (validation.ts), and fails
 * loudly on any request nothing was planned for. Also serves the `/__fake/*` control endpoints that let
 * another process script and inspect it.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

import { invalidRequestError } from './errors';
import { serveStep, serveUnplanned } from './render';
import { detectProtocol, type RecordedRequest, type RejectedRequest, type UnplannedRequest } from './request';
import { describeStep, FAKE_STEP_KINDS, type FakeStep } from './script';
import { ResponseSink } from './sink';
import { validateRequest } from './validation';

export type { FakeProtocol, RecordedRequest, RejectedRequest, UnplannedRequest } from './request';

/** Answers a request when the script queue is empty; returning undefined makes the request unplanned. */
export type FakeResponder = (req: RecordedRequest) => FakeStep | undefined;

/** Options of {@link FakeLlmServer.start}. */
export interface FakeLlmServerOptions {
  /** Port to listen on; 0 (default) picks a free one. */
  port?: number;
  /** Interface to bind; default `127.0.0.1`. */
  host?: string;
  /** Serves requests when the queue is empty (the standalone process uses one; tests usually don't). */
  fallback?: FakeResponder;
  /** Keep only the most recent N recorded requests (long benchmark runs); default: keep all. */
  maxRecorded?: number;
  /** Called for every provider request once its step is chosen (logging in the standalone process). */
  onRequest?: (req: RecordedRequest) => void;
}

interface Waiter {
  n: number;
  resolve: () => void;
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function parseJson(raw: string): unknown {
  if (raw.length === 0) return undefined;
  try {
    return JSON.parse(raw) as unknown;
  } catch {
    return raw;
  }
}

function lowerCaseHeaders(req: IncomingMessage): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined) out[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

function isStep(value: unknown): value is FakeStep {
  if (typeof value !== 'object' || value === null) return false;
  const kind = (value as { kind?: unknown }).kind;
  return typeof kind === 'string' && (FAKE_STEP_KINDS as readonly string[]).includes(kind);
}

/**
 * A scripted fake of the OpenAI and Anthropic HTTP APIs for the real SDK clients.
 *
 * ```ts
 * const fake = await FakeLlmServer.start();
 * fake.enqueue(toolCalls([{ name: 'execute', args: { command: 'ls' } }]), text('Done.'));
 * const openai = new OpenAI({ apiKey: 'test', baseURL: fake.openaiBaseUrl, maxRetries: 0 });
 * // … run the code under test …
 * fake.assertAllConsumed();
 * await fake.close();
 * ```
 */
export class FakeLlmServer {
  /** Origin of the server, e.g. `http://127.0.0.1:41234`. */
  readonly url: string;
  /** `${url}/v1`: the `baseURL` the openai SDK wants. */
  readonly openaiBaseUrl: string;
  /** `${url}`: the `baseURL` the Anthropic SDK wants (it appends `/v1/messages`). */
  readonly anthropicBaseUrl: string;
  /** Every provider request received (planned or not), in arrival order. */
  readonly requests: RecordedRequest[] = [];
  /** Requests nothing was planned for; non-empty makes {@link assertAllConsumed} throw. */
  readonly unplanned: UnplannedRequest[] = [];
  /**
   * Requests whose body the real provider would refuse (docs/fake-llm.md, "Strict requests"). Each got the
   * provider's 400 and consumed no step; non-empty makes {@link assertAllConsumed} throw.
   */
  readonly rejected: RejectedRequest[] = [];

  private readonly queue: FakeStep[] = [];
  private readonly routes = new Map<string, FakeResponder>();
  private readonly active = new Set<ResponseSink>();
  private waiters: Waiter[] = [];
  private received = 0;
  private nextIndex = 0;
  private closing: Promise<void> | undefined;

  private constructor(
    private readonly server: Server,
    origin: string,
    private readonly opts: FakeLlmServerOptions,
  ) {
    this.url = origin;
    this.openaiBaseUrl = `${origin}/v1`;
    this.anthropicBaseUrl = origin;
  }

  /** Starts a server listening on `host:port` (default `127.0.0.1:0`). */
  static async start(opts: FakeLlmServerOptions = {}): Promise<FakeLlmServer> {
    const host = opts.host ?? '127.0.0.1';
    // The handler exists before the instance it dispatches to.
    const ref: { fake?: FakeLlmServer } = {};
    const server = createServer({ keepAliveTimeout: 30_000 }, (req, res) => {
      ref.fake?.handle(req, res).catch((err: unknown) => {
        console.error('fake-llm: handler failed', err);
        if (!res.headersSent) sendJson(res, 500, { error: { message: `fake-llm: ${String(err)}` } });
        else res.destroy();
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(opts.port ?? 0, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const { port } = server.address() as AddressInfo;
    const hostPart = host.includes(':') ? `[${host}]` : host;
    ref.fake = new FakeLlmServer(server, `http://${hostPart}:${port}`, opts);
    return ref.fake;
  }

  /**
   * Answers every request for `model` with `responder`, ahead of the FIFO script. Side calls that run
   * concurrently with a turn (title generation on a cheap model) get their own answers this way, so
   * they cannot take the turn's scripted steps.
   */
  respondTo(model: string, responder: FakeResponder): void {
    this.routes.set(model, responder);
  }

  /** Appends steps to the FIFO script; each answers exactly one future request. */
  enqueue(...steps: FakeStep[]): void {
    this.queue.push(...steps);
  }

  /** Steps not consumed yet. */
  get pending(): readonly FakeStep[] {
    return this.queue;
  }

  /** Resolves once at least `n` provider requests have arrived (since start or the last reset). */
  waitForRequests(n: number, timeoutMs = 5_000): Promise<void> {
    if (this.received >= n) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = { n, resolve: () => undefined };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error(`fake-llm: expected ${n} request(s) within ${timeoutMs} ms, got ${this.received}`));
      }, timeoutMs);
      waiter.resolve = () => {
        clearTimeout(timer);
        resolve();
      };
      this.waiters.push(waiter);
    });
  }

  /** Throws, listing them, if steps are left over or any request was unplanned or rejected. */
  assertAllConsumed(): void {
    const problems: string[] = [];
    if (this.rejected.length > 0) {
      problems.push(
        `${this.rejected.length} rejected request(s): ` +
          this.rejected.map((r) => `POST ${r.path} (${r.message})`).join('; '),
      );
    }
    if (this.unplanned.length > 0) {
      problems.push(
        `${this.unplanned.length} unplanned request(s): ` +
          this.unplanned.map((u) => `${u.method} ${u.path} (${u.reason})`).join('; '),
      );
    }
    if (this.queue.length > 0) {
      problems.push(`${this.queue.length} leftover step(s): ${this.queue.map(describeStep).join(', ')}`);
    }
    if (problems.length > 0) throw new Error(`fake-llm: script not fully consumed:\n  - ${problems.join('\n  - ')}`);
  }

  /** Forgets the queue, the recorded requests and the unplanned and rejected lists (responses in flight keep running). */
  reset(): void {
    this.queue.length = 0;
    this.requests.length = 0;
    this.unplanned.length = 0;
    this.rejected.length = 0;
    this.received = 0;
  }

  /** Stops listening, ends hanging and in-flight responses, and closes every connection. */
  close(): Promise<void> {
    this.closing ??= new Promise<void>((resolve) => {
      for (const sink of this.active) sink.terminate();
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
    return this.closing;
  }

  private record(rec: RecordedRequest): void {
    this.requests.push(rec);
    const max = this.opts.maxRecorded;
    if (max !== undefined && this.requests.length > max) this.requests.splice(0, this.requests.length - max);
    this.received += 1;
    const ready = this.waiters.filter((w) => this.received >= w.n);
    this.waiters = this.waiters.filter((w) => this.received < w.n);
    for (const w of ready) w.resolve();
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const method = req.method ?? 'GET';
    const path = new URL(req.url ?? '/', 'http://fake-llm').pathname;
    const raw = await readBody(req);
    if (path.startsWith('/__fake/')) {
      this.control(method, path, raw, res);
      return;
    }

    const body = parseJson(raw);
    const protocol = detectProtocol(method, path);
    if (protocol === null) {
      const message = `fake-llm: unplanned request to ${path}`;
      this.unplanned.push({ method, path, protocol: null, body, reason: 'unknown endpoint' });
      res.writeHead(404, { 'content-type': 'application/json', 'x-should-retry': 'false' });
      res.end(JSON.stringify({ error: { message, type: 'not_found_error', param: null, code: 'fake_llm_unplanned' } }));
      return;
    }

    const fields = typeof body === 'object' && body !== null ? (body as Record<string, unknown>) : {};
    const rec: RecordedRequest = {
      index: this.nextIndex++,
      method,
      path,
      headers: lowerCaseHeaders(req),
      body,
      protocol,
      model: typeof fields.model === 'string' ? fields.model : '',
      stream: fields.stream === true,
      aborted: false,
      receivedAt: Date.now(),
    };
    this.record(rec);
    const sink = new ResponseSink(res, () => {
      rec.aborted = true;
    });
    this.active.add(sink);
    void sink.closed.then(() => this.active.delete(sink));

    // Refused as the real provider refuses it, before a step is chosen: the script stays as it was.
    const invalid = validateRequest(rec);
    if (invalid) {
      rec.rejected = invalid.message;
      this.rejected.push({ path, protocol, body, message: invalid.message });
      this.opts.onRequest?.(rec);
      const refusal = invalidRequestError(protocol, invalid);
      sink.json(refusal.status, refusal.headers, refusal.body);
      return;
    }

    let step = this.routes.get(rec.model)?.(rec) ?? this.queue.shift();
    let reason = 'script queue empty and no fallback';
    if (step === undefined && this.opts.fallback) {
      try {
        step = this.opts.fallback(rec);
        reason = 'fallback returned nothing';
      } catch (err) {
        reason = `fallback threw: ${String(err)}`;
      }
    }
    if (step === undefined) {
      this.unplanned.push({ method, path, protocol, body, reason });
      this.opts.onRequest?.(rec);
      serveUnplanned({ req: rec, sink }, `fake-llm: unplanned request to ${path} (${reason})`);
      return;
    }
    rec.step = step;
    this.opts.onRequest?.(rec);
    await serveStep(step, { req: rec, sink });
  }

  private control(method: string, path: string, raw: string, res: ServerResponse): void {
    if (method === 'POST' && path === '/__fake/enqueue') {
      const steps = parseJson(raw);
      if (!Array.isArray(steps) || !steps.every(isStep)) {
        sendJson(res, 400, { error: `expected a JSON array of steps with kind in ${FAKE_STEP_KINDS.join(', ')}` });
        return;
      }
      this.enqueue(...steps);
      sendJson(res, 200, { queued: steps.length, pending: this.queue.length });
      return;
    }
    if (method === 'GET' && path === '/__fake/requests') {
      sendJson(res, 200, {
        requests: this.requests,
        unplanned: this.unplanned,
        rejected: this.rejected,
        pending: this.queue,
      });
      return;
    }
    if (method === 'POST' && path === '/__fake/reset') {
      this.reset();
      sendJson(res, 200, { ok: true });
      return;
    }
    if (method === 'GET' && path === '/__fake/health') {
      sendJson(res, 200, { ok: true });
      return;
    }
    sendJson(res, 404, { error: `fake-llm: unknown control endpoint ${method} ${path}` });
  }
}
