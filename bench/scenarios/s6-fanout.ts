/**
 * S6, fan-out: one chat streaming stamped tokens at 100 tokens/s to K = 1, 10, 100, 500 SSE
 * subscribers, all on one API process and split across two. Per K: delivery lag (arrival − emit
 * stamp) over all subscribers, API CPU per delivered frame, database reads per subscriber per turn
 * (against a turn with no subscriber) and per connect, and bus NOTIFYs per streamed event.
 */
import { waitRunClosed } from '../lib/chat-driver';
import type { PgDelta } from '../lib/pg-stats';
import type { GroupUsage } from '../lib/proc';
import { isStatus, SseStream } from '../lib/sse';
import { median, ratio, round, sleep, summarize } from '../lib/stats';
import type { ApiChild } from '../lib/stack';
import { atMost, newResult, type Scenario, type ScenarioContext, type ScenarioResult } from '../lib/scenario';

interface FanoutRun {
  lag: ReturnType<typeof summarize>;
  frames: number;
  api_cpu_ms: number;
  api_cores: number;
  api_cpu_us_per_frame: number | null;
  turn_selects: number;
  connect_selects_per_subscriber: number | null;
  notifies: number;
  events_per_subscriber: number;
  incomplete_subscribers: number;
  processes: Record<string, GroupUsage>;
}

async function waitChatIdle(ctx: ScenarioContext, chatId: string, turn: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const [row] = await ctx.pg.query<{ status: string; turn: number }>(
      'SELECT status::text AS status, turn FROM chats WHERE id = $1',
      [chatId],
    );
    if (row && row.turn >= turn && row.status === 'waiting') return;
    await sleep(20);
  }
}

async function fanoutRun(
  ctx: ScenarioContext,
  chatId: string,
  turn: number,
  k: number,
  apis: ApiChild[],
): Promise<FanoutRun> {
  // Connect K subscribers while the chat is idle.
  await ctx.pg.begin();
  const subs = Array.from(
    { length: k },
    (_, i) => new SseStream(`${apis[i % apis.length]!.url}/api/v1/chats/${chatId}/stream`, ctx.api.token),
  );
  await Promise.all(subs.map((s) => s.waitFor((f) => f.event === 'queue_update', 30_000).catch(() => null)));
  const connect: PgDelta = await ctx.pg.end();

  await ctx.pg.begin();
  const apiGroups = (): ReturnType<typeof ctx.stack.groups> => {
    const all = ctx.stack.groups();
    return Object.fromEntries(Object.entries(all).filter(([name]) => name.startsWith('api') || name === 'worker'));
  };
  const stopMeter = ctx.meter.start(apiGroups);
  const from = subs.map((s) => s.frames.length);
  await ctx.api.sendMessage(chatId, `fan-out turn ${turn}`);
  let incomplete = 0;
  if (k === 0) {
    await waitChatIdle(ctx, chatId, turn, 30_000);
  } else {
    const done = await Promise.all(
      subs.map((s, i) =>
        s
          .waitFor((f) => isStatus(f, 'waiting'), 30_000, from[i])
          .then(
            () => true,
            () => false,
          ),
      ),
    );
    incomplete = done.filter((d) => !d).length;
  }
  const processes = stopMeter();
  const turnDelta = await ctx.pg.end();
  for (const s of subs) s.close();

  const lags = subs.flatMap((s) => s.stampLatencies);
  const frames = subs.reduce((n, s, i) => n + (s.frames.length - from[i]!), 0);
  let apiCpu = 0;
  let apiCores = 0;
  for (const [name, usage] of Object.entries(processes)) {
    if (!name.startsWith('api')) continue;
    apiCpu += usage.cpu_ms;
    apiCores += usage.cpu_cores;
  }
  return {
    lag: summarize(lags),
    frames,
    api_cpu_ms: apiCpu,
    api_cores: round(apiCores, 3) ?? 0,
    api_cpu_us_per_frame: frames ? round((apiCpu * 1000) / frames) : null,
    turn_selects: turnDelta.by_kind.select,
    connect_selects_per_subscriber: k ? ratio(connect.by_kind.select, k, 2) : null,
    notifies: turnDelta.notifies,
    events_per_subscriber: k ? (round(frames / k) ?? 0) : 0,
    incomplete_subscribers: incomplete,
    processes,
  };
}

export const s6: Scenario = {
  id: 'S6',
  title: 'Fan-out: one chat at 100 tokens/s to K SSE subscribers, one API process and two',
  budgetS: 160,
  async run(ctx): Promise<ScenarioResult> {
    const result = newResult(this.id, this.title);
    const smoke = ctx.scale === 'smoke';
    const runs = smoke ? 1 : 3;
    const tokens = smoke ? 30 : 200;
    const ks = smoke ? [1, 3] : [1, 10, 100, 500];
    result.runs = runs;
    result.scaled_down.push(
      `K up to ${ks.at(-1)} (not 1,000: the subscribers are parsed by the load generator on the same 2 cores)`,
      `each turn streams ${tokens} tokens at 100 tokens/s`,
    );
    if (ctx.stack.apis.length < 2) {
      ctx.say('S6: starting a second API process');
      ctx.stack.addApi(await ctx.stack.startApi());
    }
    const one = [ctx.stack.apis[0]!];
    const two = ctx.stack.apis.slice(0, 2);
    const modelConfigId = await ctx.api.modelConfig({ ttft: 0, tps: 100, tokens, ts: true });
    const { id: chatId } = await ctx.api.createChat('fan-out chat', modelConfigId);
    let turn = 1;
    await waitChatIdle(ctx, chatId, turn, 60_000);
    await waitRunClosed(ctx.stack.temporal!.client, chatId);

    const measureK = async (k: number, apis: ApiChild[]): Promise<FanoutRun[]> => {
      const out: FanoutRun[] = [];
      for (let r = 0; r < runs && Date.now() < ctx.deadline; r++) {
        turn += 1;
        out.push(await fanoutRun(ctx, chatId, turn, k, apis));
        await waitRunClosed(ctx.stack.temporal!.client, chatId);
      }
      return out;
    };

    const base = await measureK(0, one);
    const baseSelects = median(base.map((b) => b.turn_selects)) ?? 0;
    const points: Array<Record<string, unknown>> = [];
    const processes: Record<string, Record<string, GroupUsage>> = {};
    for (const [mode, apis] of [
      ['one_api', one],
      ['two_apis', two],
    ] as const) {
      for (const k of ks) {
        if (mode === 'two_apis' && k < 10 && !smoke) continue;
        const rs = await measureK(k, apis);
        if (!rs.length) continue;
        const point = {
          mode,
          k,
          lag_p50_ms: median(rs.map((r) => r.lag.p50)),
          lag_p99_ms: median(rs.map((r) => r.lag.p99)),
          api_cores: median(rs.map((r) => r.api_cores)),
          api_cpu_us_per_frame: median(rs.map((r) => r.api_cpu_us_per_frame)),
          db_reads_per_subscriber_per_turn: median(rs.map((r) => ratio(r.turn_selects - baseSelects, k, 2))),
          db_reads_per_subscriber_connect: median(rs.map((r) => r.connect_selects_per_subscriber)),
          bus_notifies_per_event: median(rs.map((r) => ratio(r.notifies, r.events_per_subscriber, 3))),
          events_per_subscriber: median(rs.map((r) => r.events_per_subscriber)),
          incomplete_subscribers: rs.reduce((n, r) => n + r.incomplete_subscribers, 0),
        };
        points.push(point);
        processes[`${mode}_k${k}`] = rs[Math.floor(rs.length / 2)]!.processes;
        ctx.say(`S6 ${mode} K=${k}: lag p99 ${point.lag_p99_ms} ms, ${point.api_cpu_us_per_frame} µs API CPU/frame`);
      }
    }
    result.metrics = {
      turn_selects_without_subscribers: baseSelects,
      points,
    };
    result.processes = processes;
    result.skipped['bus_messages_received_per_process'] =
      'PostgreSQL does not count NOTIFY deliveries; one LISTEN connection per process (PgStreamBus) receives each ' +
      'event once by construction. Counting it needs a counter in PgStreamBus (see the report).';
    const lagAt = (mode: string, k: number) => points.find((p) => p.mode === mode && p.k === k);
    const kMax = ks.at(-1)!;
    const lagBase = lagAt('one_api', 1);
    for (const mode of ['one_api', 'two_apis']) {
      const p = lagAt(mode, kMax);
      if (!p) continue;
      result.headlines.push(
        {
          metric: `delivery lag p99 at K=${kMax}, ${mode.replace('_', ' ')}`,
          value: p.lag_p99_ms as number | null,
          unit: 'ms',
          baseline: { name: 'lag p99 at K=1', value: (lagBase?.lag_p99_ms as number | null) ?? null, unit: 'ms' },
          ratio: ratio(p.lag_p99_ms as number | null, (lagBase?.lag_p99_ms as number | null) ?? null),
          ratio_label: 'K=max ÷ K=1',
          target: 'lag p99 ≤ 100 ms at K = 1,000',
          pass: atMost(p.lag_p99_ms as number | null, 100),
        },
        {
          metric: `API CPU at K=${kMax}, ${mode.replace('_', ' ')} (${p.api_cpu_us_per_frame} µs per frame)`,
          value: p.api_cores as number | null,
          unit: 'cores',
          baseline: {
            name: 'API CPU µs/frame at K=1',
            value: (lagBase?.api_cpu_us_per_frame as number | null) ?? null,
            unit: 'µs',
          },
          ratio: ratio(
            p.api_cpu_us_per_frame as number | null,
            (lagBase?.api_cpu_us_per_frame as number | null) ?? null,
          ),
          ratio_label: 'µs/frame at K=max ÷ K=1',
          target: 'moonshot ≤ 0.6 core at K = 1,000',
          pass: atMost(p.api_cores as number | null, 0.6),
        },
        {
          metric: `DB reads per subscriber per turn at K=${kMax}, ${mode.replace('_', ' ')}`,
          value: p.db_reads_per_subscriber_per_turn as number | null,
          unit: 'reads',
          baseline: { name: 'reads per turn with no subscriber', value: baseSelects, unit: 'reads' },
          ratio: ratio((p.db_reads_per_subscriber_per_turn as number) * kMax, baseSelects),
          ratio_label: 'subscriber reads ÷ the turn’s own reads',
          target: 'moonshot 0 per subscriber per turn',
          pass: atMost(p.db_reads_per_subscriber_per_turn as number | null, 0),
        },
        {
          metric: `bus NOTIFYs per streamed event at K=${kMax}, ${mode.replace('_', ' ')}`,
          value: p.bus_notifies_per_event as number | null,
          unit: 'notifies',
          baseline: { name: 'at K=1', value: (lagBase?.bus_notifies_per_event as number | null) ?? null, unit: '' },
          ratio: ratio(
            p.bus_notifies_per_event as number | null,
            (lagBase?.bus_notifies_per_event as number | null) ?? null,
          ),
          ratio_label: 'K=max ÷ K=1 (1 = independent of K)',
          target: 'moonshot: one bus message per event per process, independent of K',
          pass: null,
        },
      );
    }
    return result;
  },
};
