/**
 * S5, token passthrough: an answer of 2,000 stamped tokens as fast as the fake can send, and one at
 * 100 tokens/s, on 1 and on 50 concurrent streams, through chatd (worker → PostgreSQL NOTIFY → API
 * → SSE) and, as the baseline, straight from the fake to the same client. Every token carries its
 * emit time, so the latency chatd adds per token is exact. Also counts bus messages and database
 * writes per token over the streaming window.
 */
import { knobModel, type Knobs } from '../lib/api';
import { ChatDriver, waitRunClosed } from '../lib/chat-driver';
import { streamDirect } from '../lib/fake-direct';
import { stampsIn } from '../lib/sse';
import type { GroupUsage } from '../lib/proc';
import { median, minus, nowMs, ratio, round, summarize } from '../lib/stats';
import { atMost, newResult, type Scenario, type ScenarioContext, type ScenarioResult } from '../lib/scenario';

interface StreamFigures {
  tokens: number;
  /** First → last token arrival, per stream, tokens/s. */
  per_stream_tokens_per_s: number | null;
  /** All tokens ÷ (last − first token arrival over all streams), tokens/s. */
  total_tokens_per_s: number | null;
  /** Arrival − emit stamp per token, ms. */
  latency_ms: ReturnType<typeof summarize>;
  /** Gaps between consecutive token arrivals within a stream, ms. */
  gap_ms: ReturnType<typeof summarize>;
}

function figures(
  streams: Array<{ latencies: number[]; arrivals: number[] }>,
  startedAt: number,
  expectedTokens: number,
): StreamFigures & { tokens_missing: number } {
  const latencies = streams.flatMap((s) => s.latencies);
  const gaps: number[] = [];
  const rates: number[] = [];
  let lastArrival = startedAt;
  let firstArrival = Number.POSITIVE_INFINITY;
  for (const s of streams) {
    for (let i = 1; i < s.arrivals.length; i++) gaps.push(s.arrivals[i]! - s.arrivals[i - 1]!);
    const first = s.arrivals[0];
    const last = s.arrivals.at(-1);
    if (first !== undefined && last !== undefined && last > first)
      rates.push((s.latencies.length / (last - first)) * 1000);
    if (last !== undefined) lastArrival = Math.max(lastArrival, last);
    if (first !== undefined) firstArrival = Math.min(firstArrival, first);
  }
  return {
    tokens: latencies.length,
    tokens_missing: expectedTokens * streams.length - latencies.length,
    per_stream_tokens_per_s: median(rates),
    total_tokens_per_s:
      lastArrival > firstArrival ? round((latencies.length / (lastArrival - firstArrival)) * 1000) : null,
    latency_ms: summarize(latencies),
    gap_ms: summarize(gaps),
  };
}

async function viaChatd(ctx: ScenarioContext, knobs: Knobs, streams: number, tokens: number) {
  const modelConfigId = await ctx.api.modelConfig(knobs);
  // Warm chats: the first turn (creation) streams too; the measured turn is the second.
  const drivers = await Promise.all(
    Array.from({ length: streams }, async (_, i) => {
      const { driver, created } = await ChatDriver.create(ctx.api, ctx.pg, modelConfigId, `s5 ${i}`);
      await driver.finish(created, 0, 60_000);
      await waitRunClosed(ctx.stack.temporal!.client, driver.chatId);
      return driver;
    }),
  );
  await ctx.pg.begin();
  const stopMeter = ctx.meter.start(() => ctx.stack.groups());
  const startedAt = nowMs();
  try {
    const turns = await Promise.all(drivers.map((d) => d.send('stream please', 120_000)));
    const processes = stopMeter();
    const pg = await ctx.pg.end();
    const perStream = turns.map((t, i) => {
      const frames = drivers[i]!.stream.frames.slice(t.fromFrame).filter((f) => f.event === 'message_part');
      const arrivals: number[] = [];
      const latencies: number[] = [];
      for (const f of frames) {
        for (const stamp of stampsIn(f.data)) {
          arrivals.push(f.at);
          latencies.push(f.at - stamp);
        }
      }
      return { latencies, arrivals, frames: frames.length };
    });
    const fig = figures(perStream, startedAt, tokens);
    const writes = pg.by_kind.insert + pg.by_kind.update + pg.by_kind.delete;
    return {
      ...fig,
      errors: turns.filter((t) => t.status !== 'waiting').length,
      sse_frames_per_token: ratio(
        perStream.reduce((n, s) => n + s.frames, 0),
        fig.tokens,
      ),
      bus_messages_per_token: ratio(pg.notifies, fig.tokens, 4),
      db_write_statements_per_token: ratio(writes, fig.tokens, 4),
      db_write_statements_per_turn: ratio(writes, streams, 2),
      write_transactions_per_turn: ratio(pg.write_transactions, streams, 2),
      processes,
    };
  } finally {
    for (const d of drivers) d.close();
  }
}

async function viaDirect(ctx: ScenarioContext, model: string, streams: number, tokens: number) {
  const startedAt = nowMs();
  const results = await Promise.all(
    Array.from({ length: streams }, () => streamDirect(`${ctx.stack.fakeUrl}/v1`, model, ctx.api.agent)),
  );
  return figures(
    results.map((r) => ({ latencies: r.stampLatencies, arrivals: r.arrivals })),
    startedAt,
    tokens,
  );
}

export const s5: Scenario = {
  id: 'S5',
  title: 'Token passthrough: added per-token latency, throughput, bus messages and DB writes per token',
  budgetS: 150,
  async run(ctx): Promise<ScenarioResult> {
    const result = newResult(this.id, this.title);
    const smoke = ctx.scale === 'smoke';
    const runs = smoke ? 1 : 3;
    const pacedTokens = smoke ? 50 : 400;
    result.runs = runs;
    result.scaled_down.push(
      `the 100 tokens/s answer is ${pacedTokens} tokens (${pacedTokens / 100} s), not 2,000 (20 s), to fit the time budget`,
    );
    const cases = [
      { name: 'fast_1_stream', tps: 0, tokens: smoke ? 200 : 2000, streams: 1 },
      { name: 'fast_50_streams', tps: 0, tokens: smoke ? 200 : 2000, streams: smoke ? 3 : 50 },
      { name: 'paced_100tps_1_stream', tps: 100, tokens: pacedTokens, streams: 1 },
      { name: 'paced_100tps_50_streams', tps: 100, tokens: pacedTokens, streams: smoke ? 3 : 50 },
    ];
    const out: Record<string, unknown> = {};
    const processes: Record<string, Record<string, GroupUsage>> = {};
    for (const c of cases) {
      const knobs = { ttft: 0, tps: c.tps, tokens: c.tokens, ts: true };
      const model = knobModel(knobs);
      const chatdRuns: Array<Awaited<ReturnType<typeof viaChatd>>> = [];
      const directRuns: Array<Awaited<ReturnType<typeof viaDirect>>> = [];
      for (let r = 0; r < runs && Date.now() < ctx.deadline; r++) {
        directRuns.push(await viaDirect(ctx, model, c.streams, c.tokens));
        chatdRuns.push(await viaChatd(ctx, knobs, c.streams, c.tokens));
        const last = chatdRuns.at(-1)!;
        ctx.say(
          `S5 ${c.name} run ${r + 1}: chatd ${last.per_stream_tokens_per_s} tok/s/stream, latency p99 ${last.latency_ms.p99} ms (direct p99 ${directRuns.at(-1)!.latency_ms.p99} ms)`,
        );
      }
      if (chatdRuns.length === 0) continue;
      const med = <T>(xs: T[], f: (x: T) => number | null | undefined): number | null => median(xs.map(f));
      const entry = {
        streams: c.streams,
        tokens_per_stream: c.tokens,
        fake_tps: c.tps === 0 ? 'as fast as possible' : c.tps,
        chatd: {
          per_stream_tokens_per_s: med(chatdRuns, (r) => r.per_stream_tokens_per_s),
          total_tokens_per_s: med(chatdRuns, (r) => r.total_tokens_per_s),
          latency_p50_ms: med(chatdRuns, (r) => r.latency_ms.p50),
          latency_p99_ms: med(chatdRuns, (r) => r.latency_ms.p99),
          gap_p50_ms: med(chatdRuns, (r) => r.gap_ms.p50),
          gap_p99_ms: med(chatdRuns, (r) => r.gap_ms.p99),
          tokens_missing: med(chatdRuns, (r) => r.tokens_missing),
          sse_frames_per_token: med(chatdRuns, (r) => r.sse_frames_per_token),
          bus_messages_per_token: med(chatdRuns, (r) => r.bus_messages_per_token),
          db_write_statements_per_token: med(chatdRuns, (r) => r.db_write_statements_per_token),
          db_write_statements_per_turn: med(chatdRuns, (r) => r.db_write_statements_per_turn),
          write_transactions_per_turn: med(chatdRuns, (r) => r.write_transactions_per_turn),
          errors: chatdRuns.reduce((n, r) => n + r.errors, 0),
        },
        direct: {
          per_stream_tokens_per_s: med(directRuns, (r) => r.per_stream_tokens_per_s),
          total_tokens_per_s: med(directRuns, (r) => r.total_tokens_per_s),
          latency_p50_ms: med(directRuns, (r) => r.latency_ms.p50),
          latency_p99_ms: med(directRuns, (r) => r.latency_ms.p99),
          gap_p50_ms: med(directRuns, (r) => r.gap_ms.p50),
          gap_p99_ms: med(directRuns, (r) => r.gap_ms.p99),
        },
        added_latency_p50_ms: null as number | null,
        added_latency_p99_ms: null as number | null,
        runs: chatdRuns.map(({ processes: _p, ...rest }) => rest),
      };
      entry.added_latency_p50_ms = minus(entry.chatd.latency_p50_ms, entry.direct.latency_p50_ms);
      entry.added_latency_p99_ms = minus(entry.chatd.latency_p99_ms, entry.direct.latency_p99_ms);
      out[c.name] = entry;
      processes[c.name] = chatdRuns[Math.floor(chatdRuns.length / 2)]!.processes;
      result.headlines.push(
        {
          metric: `added per-token latency p99, ${c.name.replace(/_/g, ' ')}`,
          value: entry.added_latency_p99_ms,
          unit: 'ms',
          baseline: { name: 'direct p99', value: entry.direct.latency_p99_ms, unit: 'ms' },
          ratio: ratio(entry.chatd.latency_p99_ms, entry.direct.latency_p99_ms),
          ratio_label: 'chatd ÷ direct',
          target: 'added ITL p99 ≤ 10 ms (moonshot ≤ 5)',
          pass: atMost(entry.added_latency_p99_ms, 10),
        },
        {
          metric: `tokens/s per stream, ${c.name.replace(/_/g, ' ')} (total ${entry.chatd.total_tokens_per_s} tok/s)`,
          value: entry.chatd.per_stream_tokens_per_s,
          unit: 'tok/s',
          baseline: { name: 'direct per stream', value: entry.direct.per_stream_tokens_per_s, unit: 'tok/s' },
          ratio: ratio(entry.chatd.per_stream_tokens_per_s, entry.direct.per_stream_tokens_per_s),
          ratio_label: 'chatd ÷ direct',
          target: c.name === 'fast_1_stream' ? 'moonshot ≥ 20k tok/s in one stream' : undefined,
          pass: c.name === 'fast_1_stream' ? (entry.chatd.per_stream_tokens_per_s ?? 0) >= 20_000 : undefined,
        },
        {
          metric: `DB write statements per token, ${c.name.replace(/_/g, ' ')} (${entry.chatd.db_write_statements_per_turn} per turn); bus messages per token ${entry.chatd.bus_messages_per_token}`,
          value: entry.chatd.db_write_statements_per_token,
          unit: 'writes/token',
          baseline: { name: 'writes per turn', value: entry.chatd.db_write_statements_per_turn, unit: '' },
          target: '0 DB writes per token',
          pass: null,
        },
      );
    }
    // Writes per turn must not grow with the answer: compare the 2,000-token and the short answer.
    const perTurn = (name: string): number | null =>
      (out[name] as { chatd?: { db_write_statements_per_turn: number | null } } | undefined)?.chatd
        ?.db_write_statements_per_turn ?? null;
    const long = perTurn('fast_1_stream');
    const short = perTurn('paced_100tps_1_stream');
    result.headlines.push({
      metric: 'DB writes per turn, 2,000-token answer vs short answer (equal = no per-token writes)',
      value: long,
      unit: 'writes/turn',
      baseline: { name: `short answer (${pacedTokens} tokens)`, value: short, unit: 'writes/turn' },
      ratio: ratio(long, short),
      ratio_label: 'long ÷ short',
      target: '0 DB writes per token',
      pass: long === null || short === null ? null : Math.abs(long - short) < 0.5,
    });
    result.metrics = out;
    result.processes = processes;
    result.notes = [
      'Per-token latency = SSE arrival − the fake’s emit stamp (same host clock); "added" = chatd − direct, per percentile. ' +
        'DB writes are per turn (message rows, chat status), not per token: the per-token figure is that constant spread over the answer.',
    ];
    return result;
  },
};
