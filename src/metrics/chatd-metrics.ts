/**
 * The Prometheus metrics of one chatd process (README "Operations"): one prom-client Registry per
 * process, created by the composition root (src/main) and injected, never the library's global one. It
 * implements the ports the measured code defines (src/turn/metrics.ts, src/stream/bus-metrics.ts, the
 * API's stream gauge) and renders the text `/metrics` serves, with the Temporal SDK's own metrics
 * appended when this process runs a worker (src/temporal/runtime.ts).
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Usage } from '../llm/types';
import type { BusMetrics } from '../stream/bus-metrics';
import { LruMap } from '../lru-map';
import type { ModelUsageKind, ToolCallOutcome, TurnKey, TurnMetrics } from '../turn/metrics';
import { fetchExposition } from './exposition';

/** Turns waiting in PostgreSQL: for a running-turn slot, and messages queued behind a running turn. */
export interface QueueDepth {
  awaitingSlot: number;
  queuedMessages: number;
}

export interface ChatdMetricsOptions {
  /** The Temporal SDK's Prometheus exporter of this process (loopback), appended to `/metrics`. */
  temporalMetricsUrl?: string | null;
  /** Process metrics (`process_*`, `nodejs_*`) too; default true. */
  processMetrics?: boolean;
  /** How long a queue depth read is reused by scrapes (default 5 s). */
  queueDepthCacheMs?: number;
}

const PREFIX = 'chatd_';
const HTTP_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const FIRST_TOKEN_BUCKETS = [0.1, 0.25, 0.5, 1, 2, 3, 5, 7.5, 10, 15, 20, 30, 60];
const MODEL_CALL_BUCKETS = [0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600];
const TURN_BUCKETS = [1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1200, 1800, 3600];
const TOOL_BUCKETS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900];
const BUS_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

/** The usage fields counted, by their `type` label. */
const TOKEN_TYPES: ReadonlyArray<[string, keyof Usage]> = [
  ['input', 'inputTokens'],
  ['output', 'outputTokens'],
  ['reasoning', 'reasoningTokens'],
  ['cache_read', 'cacheReadTokens'],
  ['cache_creation', 'cacheCreationTokens'],
];

/** One HTTP request as the API middleware reports it: `route` is the router's template, never the path. */
export interface HttpRequestSample {
  method: string;
  route: string;
  status: number;
  seconds: number;
}

const turnKey = (turn: TurnKey): string => `${turn.chatId}:${turn.turn}`;

export class ChatdMetrics implements TurnMetrics, BusMetrics {
  readonly registry = new Registry();
  private readonly temporalMetricsUrl: string | null;
  private queueDepthReader: (() => Promise<QueueDepth>) | null = null;
  private queueDepthCache: { at: number; value: Promise<QueueDepth> } | null = null;
  private readonly queueDepthCacheMs: number;

  private readonly httpRequests: Counter<'method' | 'route' | 'status'>;
  private readonly httpDuration: Histogram<'method' | 'route'>;
  /** Open SSE streams of this process (src/api/limits/streams.ts). */
  readonly openStreams: Gauge;
  private readonly turnsStarted: Counter;
  /** When each running turn started here (performance.now()), for its duration; bounded. */
  private readonly turnStarts = new LruMap<string, number>(10_000);
  private readonly turnsFinished: Counter<'outcome'>;
  private readonly turnDuration: Histogram<'outcome'>;
  private readonly firstToken: Histogram<'provider' | 'model'>;
  private readonly modelCalls: Histogram<'provider' | 'model' | 'outcome'>;
  private readonly tokens: Counter<'model' | 'kind' | 'type'>;
  private readonly cost: Counter<'model' | 'kind'>;
  private readonly unpriced: Counter<'model' | 'kind'>;
  private readonly toolCalls: Histogram<'tool' | 'outcome'>;
  private readonly busLag: Histogram;
  private readonly busSent: Histogram;
  private readonly busDropped: Counter;

  constructor(options: ChatdMetricsOptions = {}) {
    this.temporalMetricsUrl = options.temporalMetricsUrl ?? null;
    this.queueDepthCacheMs = options.queueDepthCacheMs ?? 5000;
    const registers = [this.registry];
    if (options.processMetrics ?? true) collectDefaultMetrics({ register: this.registry });

    this.httpRequests = new Counter({
      name: `${PREFIX}http_requests_total`,
      help: 'HTTP requests served, by method, route template and status code.',
      labelNames: ['method', 'route', 'status'],
      registers,
    });
    this.httpDuration = new Histogram({
      name: `${PREFIX}http_request_duration_seconds`,
      help: 'Time to answer an HTTP request (for a stream: until it started), by method and route template.',
      labelNames: ['method', 'route'],
      buckets: HTTP_BUCKETS,
      registers,
    });
    this.openStreams = new Gauge({
      name: `${PREFIX}sse_streams_open`,
      help: 'Server-sent event streams (chat and watch) open in this process.',
      registers,
    });
    this.turnsStarted = new Counter({
      name: `${PREFIX}turns_started_total`,
      help: 'Turns whose first model step started in this process.',
      registers,
    });
    this.turnsFinished = new Counter({
      name: `${PREFIX}turns_finished_total`,
      help: 'Turns ended by finishTurn in this process, by outcome.',
      labelNames: ['outcome'],
      registers,
    });
    this.turnDuration = new Histogram({
      name: `${PREFIX}turn_duration_seconds`,
      help: "Time from a turn's user message to the turn's end (waits for a running-turn slot included), by outcome.",
      labelNames: ['outcome'],
      buckets: TURN_BUCKETS,
      registers,
    });
    this.firstToken = new Histogram({
      name: `${PREFIX}model_time_to_first_token_seconds`,
      help: 'Time from sending a model request to its first streamed output, by provider and model.',
      labelNames: ['provider', 'model'],
      buckets: FIRST_TOKEN_BUCKETS,
      registers,
    });
    this.modelCalls = new Histogram({
      name: `${PREFIX}model_call_duration_seconds`,
      help: 'Duration of model calls, by provider, model and outcome (ok or the failure kind).',
      labelNames: ['provider', 'model', 'outcome'],
      buckets: MODEL_CALL_BUCKETS,
      registers,
    });
    this.tokens = new Counter({
      name: `${PREFIX}model_tokens_total`,
      help: 'Model tokens charged, by model, call kind (step, title, compaction) and type (input, output, reasoning, cache_read, cache_creation).',
      labelNames: ['model', 'kind', 'type'],
      registers,
    });
    this.cost = new Counter({
      name: `${PREFIX}model_cost_usd_total`,
      help: 'Cost of model calls in US dollars at the model configs’ prices, by model and call kind.',
      labelNames: ['model', 'kind'],
      registers,
    });
    this.unpriced = new Counter({
      name: `${PREFIX}model_unpriced_calls_total`,
      help: 'Model calls without a price (not in the cost), by model and call kind.',
      labelNames: ['model', 'kind'],
      registers,
    });
    this.toolCalls = new Histogram({
      name: `${PREFIX}tool_call_duration_seconds`,
      help: 'Duration of tool calls run by this process, by tool (MCP tools as "mcp") and outcome (ok, error, interrupted, failed).',
      labelNames: ['tool', 'outcome'],
      buckets: TOOL_BUCKETS,
      registers,
    });
    this.busLag = new Histogram({
      name: `${PREFIX}bus_delivery_lag_seconds`,
      help: "Time from a chat event's publish to its arrival here over the PostgreSQL bus (publisher's clock).",
      buckets: BUS_BUCKETS,
      registers,
    });
    this.busSent = new Histogram({
      name: `${PREFIX}bus_notify_wait_seconds`,
      help: 'Time a NOTIFY of this process waited from its publish until PostgreSQL took it.',
      buckets: BUS_BUCKETS,
      registers,
    });
    this.busDropped = new Counter({
      name: `${PREFIX}bus_notify_dropped_total`,
      help: 'NOTIFYs this process dropped while its publishing connection was down.',
      registers,
    });
    const queueDepth: Gauge<'queue'> = new Gauge({
      name: `${PREFIX}queue_depth`,
      help: 'Turns waiting in PostgreSQL (the same for every process): queue="turn_slot" for a running-turn slot, queue="queued_messages" behind a running turn.',
      labelNames: ['queue'],
      registers,
      collect: async () => {
        const value = await this.queueDepth();
        if (!value) return;
        queueDepth.set({ queue: 'turn_slot' }, value.awaitingSlot);
        queueDepth.set({ queue: 'queued_messages' }, value.queuedMessages);
      },
    });
  }

  /** Where the queue depth gauge reads from (a query on the process's database). */
  readQueueDepthFrom(reader: () => Promise<QueueDepth>): void {
    this.queueDepthReader = reader;
    this.queueDepthCache = null;
  }

  /** The text `/metrics` serves: this registry's, then the Temporal SDK's when it runs here. */
  async render(): Promise<{ contentType: string; body: string }> {
    const [own, temporal] = await Promise.all([
      this.registry.metrics(),
      this.temporalMetricsUrl ? fetchExposition(this.temporalMetricsUrl) : '',
    ]);
    return { contentType: this.registry.contentType, body: temporal ? `${own.trimEnd()}\n${temporal}` : own };
  }

  httpRequest(sample: HttpRequestSample): void {
    this.httpRequests.inc({ method: sample.method, route: sample.route, status: String(sample.status) });
    this.httpDuration.observe({ method: sample.method, route: sample.route }, sample.seconds);
  }

  turnStarted(turn: TurnKey): void {
    this.turnsStarted.inc();
    this.turnStarts.set(turnKey(turn), performance.now());
  }

  turnFinished(turn: TurnKey, outcome: string): void {
    this.turnsFinished.inc({ outcome });
    const key = turnKey(turn);
    const started = this.turnStarts.get(key);
    if (started === undefined) return;
    this.turnStarts.delete(key);
    this.turnDuration.observe({ outcome }, (performance.now() - started) / 1000);
  }

  modelCall(call: {
    provider: string;
    model: string;
    outcome: string;
    firstTokenSeconds: number | null;
    seconds: number;
  }): void {
    if (call.firstTokenSeconds !== null) {
      this.firstToken.observe({ provider: call.provider, model: call.model }, call.firstTokenSeconds);
    }
    this.modelCalls.observe({ provider: call.provider, model: call.model, outcome: call.outcome }, call.seconds);
  }

  modelUsage(charged: { model: string; kind: ModelUsageKind; usage: Usage; costMicros: number | null }): void {
    const { model, kind, usage } = charged;
    for (const [type, field] of TOKEN_TYPES) {
      const count = usage[field];
      if (count) this.tokens.inc({ model, kind, type }, count);
    }
    if (charged.costMicros === null) this.unpriced.inc({ model, kind });
    else if (charged.costMicros > 0) this.cost.inc({ model, kind }, charged.costMicros / 1_000_000);
  }

  toolCall(call: { tool: string; outcome: ToolCallOutcome; seconds: number }): void {
    this.toolCalls.observe({ tool: call.tool, outcome: call.outcome }, call.seconds);
  }

  delivered(seconds: number): void {
    this.busLag.observe(seconds);
  }

  sent(seconds: number): void {
    this.busSent.observe(seconds);
  }

  dropped(count: number): void {
    this.busDropped.inc(count);
  }

  /** The queue depth, read at most once per cache period however often scrapes come; null when unknown. */
  private async queueDepth(): Promise<QueueDepth | null> {
    const read = this.queueDepthReader;
    if (!read) return null;
    const now = Date.now();
    if (!this.queueDepthCache || now - this.queueDepthCache.at >= this.queueDepthCacheMs) {
      this.queueDepthCache = { at: now, value: read() };
    }
    const cached = this.queueDepthCache;
    return cached.value.catch(() => {
      // A failed read is not kept: the next scrape reads again.
      if (this.queueDepthCache === cached) this.queueDepthCache = null;
      return null;
    });
  }
}
