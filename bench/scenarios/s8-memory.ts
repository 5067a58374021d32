/**
 * S8, memory: RSS of the api and worker processes as idle chats accumulate, as idle SSE streams are
 * opened on them, and while chats stream; reported as slopes (MB per 1k idle chats, KB per open
 * stream, MB per active chat) and the drift back at rest. RSS is the median of several samples
 * after a settling pause; the processes' garbage collector is not forced, so slopes are upper bounds.
 */
import { waitRunClosed } from '../lib/chat-driver';
import { closedLoop } from '../lib/closed-loop';
import { isStatus, SseStream } from '../lib/sse';
import { median, ratio, round, sleep } from '../lib/stats';
import { atMost, newResult, type Scenario, type ScenarioContext, type ScenarioResult } from '../lib/scenario';

/** Median RSS (MB) of api and worker over `samples` samples 400 ms apart, after `settleMs`. */
async function settledRss(
  ctx: ScenarioContext,
  settleMs = 1500,
  samples = 5,
): Promise<{ api: number; worker: number }> {
  await sleep(settleMs);
  const api: number[] = [];
  const worker: number[] = [];
  for (let i = 0; i < samples; i++) {
    const g = ctx.stack.groups();
    const rss = ctx.meter.rssMb({ api: g.api, worker: g.worker });
    api.push(rss.api ?? 0);
    worker.push(rss.worker ?? 0);
    await sleep(400);
  }
  return { api: median(api) ?? 0, worker: median(worker) ?? 0 };
}

async function chatIds(ctx: ScenarioContext, limit: number): Promise<string[]> {
  const rows = await ctx.pg.query<{ id: string }>(
    "SELECT id FROM chats WHERE status = 'waiting' ORDER BY created_at DESC LIMIT $1",
    [limit],
  );
  return rows.map((r) => r.id);
}

export const s8: Scenario = {
  id: 'S8',
  title: 'Memory: RSS per idle chat, per open stream, per active chat, and drift',
  budgetS: 150,
  async run(ctx): Promise<ScenarioResult> {
    const result = newResult(this.id, this.title);
    const smoke = ctx.scale === 'smoke';
    const chatSteps = smoke ? [5] : [200, 200];
    const streamSteps = smoke ? [5] : [500, 1000];
    const active = smoke ? 3 : 50;
    result.runs = 1;
    result.scaled_down.push(
      `idle chats grow by ${chatSteps.join(' + ')} (not to 1k/5k/10k); open streams ${streamSteps.join(' → ')} (not 10k); ` +
        `${active} streaming chats; one pass (each step is a slope over many objects, not a repeated run)`,
    );
    const [{ n: existing }] = (await ctx.pg.query<{ n: number }>('SELECT count(*)::int AS n FROM chats')) as [
      { n: number },
    ];
    const base = await settledRss(ctx);
    const points: Array<Record<string, number | string>> = [{ phase: 'start', chats: existing, streams: 0, ...base }];

    // 1. Idle chats: each created through the API (one instant turn), then left alone.
    let chats = existing;
    for (const step of chatSteps) {
      const loop = await closedLoop(ctx, {
        chats: step,
        turnsPerChat: 1,
        knobs: { ttft: 0, tps: 0, tokens: 20 },
        maxSeconds: 60,
      });
      chats += loop.turns;
      points.push({ phase: 'idle chats', chats, streams: 0, ...(await settledRss(ctx)) });
      ctx.say(`S8: ${chats} chats, api ${points.at(-1)!.api} MB, worker ${points.at(-1)!.worker} MB`);
    }
    const idleEnd = points.at(-1)!;
    const idleStart = points[0]!;
    const mbPer1kChats = {
      api: ratio(((idleEnd.api as number) - (idleStart.api as number)) * 1000, chats - existing, 2),
      worker: ratio(((idleEnd.worker as number) - (idleStart.worker as number)) * 1000, chats - existing, 2),
    };

    // 2. Idle streams on idle chats.
    const ids = await chatIds(ctx, streamSteps.at(-1)!);
    const streams: SseStream[] = [];
    const beforeStreams = points.at(-1)!;
    for (const target of streamSteps) {
      const batch = ids
        .slice(streams.length, target)
        .map((id) => new SseStream(ctx.api.streamUrl(id), ctx.api.token, { keepFrames: true }));
      streams.push(...batch);
      await Promise.all(batch.map((s) => s.waitFor((f) => f.event === 'queue_update', 30_000).catch(() => null)));
      points.push({ phase: 'idle streams', chats, streams: streams.length, ...(await settledRss(ctx)) });
      ctx.say(`S8: ${streams.length} idle streams, api ${points.at(-1)!.api} MB`);
    }
    const streamsEnd = points.at(-1)!;
    const kbPerStream = ratio(((streamsEnd.api as number) - (beforeStreams.api as number)) * 1024, streams.length, 1);
    const openFailed = streams.filter((s) => s.status !== 200).length;

    // 3. Streaming chats (warm, with an open stream each), while the idle streams stay open.
    const modelConfigId = await ctx.api.modelConfig({ ttft: 0, tps: 100, tokens: 300 });
    const made = await Promise.all(
      Array.from({ length: active }, async (_, i) => {
        const { id } = await ctx.api.createChat(`s8 active ${i}`, modelConfigId);
        return id;
      }),
    );
    // First turns (and their titles, at the same pace) finish before the measured turns.
    await sleep(4000);
    await Promise.all(made.map((id) => waitRunClosed(ctx.stack.temporal!.client, id, 10_000)));
    const beforeActive = await settledRss(ctx, 500, 3);
    const activeStreams = made.map((id) => new SseStream(ctx.api.streamUrl(id), ctx.api.token));
    await Promise.all(activeStreams.map((s) => s.waitFor((f) => f.event === 'queue_update', 30_000).catch(() => null)));
    const stopMeter = ctx.meter.start(() => ({ api: ctx.stack.groups().api, worker: ctx.stack.groups().worker }), 250);
    const from = activeStreams.map((s) => s.frames.length);
    await Promise.all(made.map((id) => ctx.api.sendMessage(id, 'stream for the memory test')));
    await Promise.all(
      activeStreams.map((s, i) => s.waitFor((f) => isStatus(f, 'waiting'), 60_000, from[i]).catch(() => null)),
    );
    const usage = stopMeter();
    const peak = { api: usage.api?.rss_mb_peak ?? 0, worker: usage.worker?.rss_mb_peak ?? 0 };
    const mbPerActive = {
      api: ratio(peak.api - beforeActive.api, active, 2),
      worker: ratio(peak.worker - beforeActive.worker, active, 2),
    };
    points.push({ phase: 'streaming (peak)', chats, streams: streams.length + active, ...peak });

    // 4. Everything closed again: drift against the start.
    for (const s of [...streams, ...activeStreams]) s.close();
    const end = await settledRss(ctx, 3000);
    points.push({ phase: 'at rest', chats, streams: 0, ...end });
    const drift = { api: round(end.api - base.api), worker: round(end.worker - base.worker) };

    result.metrics = {
      points,
      mb_per_1k_idle_chats: mbPer1kChats,
      kb_per_idle_stream_api: kbPerStream,
      streams_refused: openFailed,
      mb_per_active_chat: mbPerActive,
      drift_mb: drift,
    };
    result.skipped['soak'] =
      'No separate long soak (time budget); drift is the RSS at rest after this scenario against its start, ' +
      'and every scenario JSON records RSS at the start and end of its windows.';
    result.headlines.push(
      {
        metric: 'API RSS per open idle stream',
        value: kbPerStream,
        unit: 'KB',
        baseline: { name: 'API RSS before the streams', value: beforeStreams.api as number, unit: 'MB' },
        ratio: ratio(kbPerStream, 100),
        ratio_label: '÷ target',
        target: '≤ 100 KB per idle stream (moonshot ≤ 30 KB)',
        pass: atMost(kbPerStream, 100),
      },
      {
        metric: `RSS per active (streaming) chat: api ${mbPerActive.api} MB + worker ${mbPerActive.worker} MB`,
        value: round((mbPerActive.api ?? 0) + (mbPerActive.worker ?? 0)),
        unit: 'MB',
        baseline: { name: 'api + worker RSS before', value: round(beforeActive.api + beforeActive.worker), unit: 'MB' },
        ratio: ratio((mbPerActive.api ?? 0) + (mbPerActive.worker ?? 0), 3),
        ratio_label: '÷ target',
        target: '≤ 3 MB per active chat',
        pass: atMost((mbPerActive.api ?? 0) + (mbPerActive.worker ?? 0), 3),
      },
      {
        metric: `RSS per 1k idle chats: api ${mbPer1kChats.api} MB, worker ${mbPer1kChats.worker} MB`,
        value: mbPer1kChats.worker,
        unit: 'MB (worker)',
        baseline: { name: 'worker RSS at start', value: base.worker, unit: 'MB' },
        ratio: ratio(mbPer1kChats.worker, base.worker),
        ratio_label: 'per 1k chats ÷ start',
      },
      {
        metric: `drift at rest after the scenario: api ${drift.api} MB, worker ${drift.worker} MB`,
        value: drift.worker,
        unit: 'MB (worker)',
        baseline: { name: 'worker RSS at start', value: base.worker, unit: 'MB' },
        ratio: ratio(end.worker, base.worker),
        ratio_label: 'end ÷ start',
      },
    );
    return result;
  },
};
