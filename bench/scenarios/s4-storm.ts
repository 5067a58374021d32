/**
 * S4, storm: a few hundred chats released at once, each running a few turns against a paced fake
 * (2–5 s per answer, spread over four model configs). Measures time to `running` and to the first
 * streamed token of the released turns, the drain time against the pure LLM time, failures, and
 * how long each chatd process's connection pool stayed fully busy (sampled from pg_stat_activity
 * every 100 ms: all of a process's pool connections active or idle in a transaction).
 */
import { ChatDriver, type TurnTiming } from '../lib/chat-driver';
import { isStatus } from '../lib/sse';
import { median, minus, nowMs, ratio, round, sleep, summarize } from '../lib/stats';
import { atMost, newResult, type Scenario, type ScenarioContext, type ScenarioResult } from '../lib/scenario';

/** Four paces: 40 tokens after a 300 ms first token, lasting about 2, 3, 4 and 5 s. */
const PACES = [
  { seconds: 2, tps: 23 },
  { seconds: 3, tps: 15 },
  { seconds: 4, tps: 11 },
  { seconds: 5, tps: 8.5 },
];
const TOKENS = 40;
const TTFT = 300;

/** Samples busy pool connections per chatd application name. */
function poolSampler(ctx: ScenarioContext, poolSize: number) {
  let stop = false;
  const longestPinnedMs: Record<string, number> = {};
  const maxBusy: Record<string, number> = {};
  const pinnedSince: Record<string, number | null> = {};
  const loop = (async () => {
    while (!stop) {
      const at = Date.now();
      const rows = await ctx.pg.activity().catch(() => []);
      const busy: Record<string, number> = {};
      for (const r of rows) {
        if (r.app !== 'chatd-api' && r.app !== 'chatd-worker') continue;
        if (r.state === 'active' || r.state.startsWith('idle in transaction')) busy[r.app] = (busy[r.app] ?? 0) + r.n;
      }
      for (const app of ['chatd-api', 'chatd-worker']) {
        const n = busy[app] ?? 0;
        maxBusy[app] = Math.max(maxBusy[app] ?? 0, n);
        if (n >= poolSize) {
          pinnedSince[app] ??= at;
          longestPinnedMs[app] = Math.max(longestPinnedMs[app] ?? 0, at - pinnedSince[app]!);
        } else {
          pinnedSince[app] = null;
        }
      }
      await sleep(100);
    }
  })();
  return {
    async stop() {
      stop = true;
      await loop;
      return { longest_pinned_ms: longestPinnedMs, max_busy_connections: maxBusy, pool_size: poolSize };
    },
  };
}

async function storm(ctx: ScenarioContext, chats: number, turns: number) {
  const configs = await Promise.all(PACES.map((p) => ctx.api.modelConfig({ ttft: TTFT, tps: p.tps, tokens: TOKENS })));
  const pool = poolSampler(ctx, 10);
  const stopMeter = ctx.meter.start(() => ctx.stack.groups());
  const releasedAt = nowMs();
  const toRunning: number[] = [];
  const toFirstOutput: number[] = [];
  const llmSeconds: number[] = [];
  let failures = 0;
  const failureKinds: Record<string, number> = {};
  const fail = (kind: string): void => {
    failures += 1;
    failureKinds[kind] = (failureKinds[kind] ?? 0) + 1;
  };
  let lastEnd = releasedAt;
  await Promise.all(
    Array.from({ length: chats }, async (_, i) => {
      const pace = PACES[i % PACES.length]!;
      llmSeconds[i] = turns * pace.seconds;
      let driver: ChatDriver | null = null;
      try {
        const made = await ChatDriver.create(ctx.api, ctx.pg, configs[i % PACES.length]!, `storm ${i}`);
        driver = made.driver;
        const record = (t: TurnTiming): void => {
          if (t.status !== 'waiting') fail(t.status);
          lastEnd = Math.max(lastEnd, t.endAt);
        };
        const first = await driver.finish(made.created, 0, 120_000);
        record(first);
        const running = driver.stream.frames.find((f) => isStatus(f, 'running'));
        if (running) toRunning.push(running.at - first.sentAt);
        if (first.firstPartAt !== null) toFirstOutput.push(first.firstPartAt - first.sentAt);
        for (let t = 1; t < turns; t++) record(await driver.send(`storm ${i} turn ${t + 1}`, 120_000));
      } catch (err) {
        fail(`request: ${(err as Error).message.slice(0, 60)}`);
      } finally {
        driver?.close();
      }
    }),
  );
  const processes = stopMeter();
  const pools = await pool.stop();
  const drainS = (lastEnd - releasedAt) / 1000;
  const llmS = Math.max(...llmSeconds);
  return {
    time_to_running_ms: summarize(toRunning),
    time_to_first_output_ms: summarize(toFirstOutput),
    drain_s: round(drainS),
    llm_time_s: llmS,
    drain_beyond_llm_s: round(drainS - llmS),
    failures,
    failure_kinds: failureKinds,
    pools,
    processes,
  };
}

export const s4: Scenario = {
  id: 'S4',
  title: 'Storm: chats released at once against a paced fake LLM',
  budgetS: 220,
  async run(ctx): Promise<ScenarioResult> {
    const result = newResult(this.id, this.title);
    const smoke = ctx.scale === 'smoke';
    const runs = smoke ? 1 : 3;
    const chats = smoke ? 8 : 200;
    const turns = 2;
    result.runs = runs;
    result.scaled_down.push(
      `${chats} chats × ${turns} turns per run (not 1,000 × 10): a storm of 200 chats already takes over a minute ` +
        'to drain on this box, and three runs must fit the time budget',
    );
    const perRun: Array<Awaited<ReturnType<typeof storm>>> = [];
    for (let r = 0; r < runs && Date.now() < ctx.deadline; r++) {
      const run = await storm(ctx, chats, turns);
      perRun.push(run);
      ctx.say(
        `S4 run ${r + 1}: first output p99 ${run.time_to_first_output_ms.p99} ms, drain ${run.drain_s} s (LLM ${run.llm_time_s} s), ${run.failures} failures`,
      );
      await sleep(2000);
    }
    const med = (f: (r: (typeof perRun)[number]) => number | null | undefined): number | null => median(perRun.map(f));
    const m = {
      chats,
      turns_per_chat: turns,
      time_to_running_p50_ms: med((r) => r.time_to_running_ms.p50),
      time_to_running_p99_ms: med((r) => r.time_to_running_ms.p99),
      time_to_first_output_p50_ms: med((r) => r.time_to_first_output_ms.p50),
      time_to_first_output_p99_ms: med((r) => r.time_to_first_output_ms.p99),
      fake_ttft_ms: TTFT,
      drain_s: med((r) => r.drain_s),
      llm_time_s: med((r) => r.llm_time_s),
      drain_beyond_llm_s: med((r) => r.drain_beyond_llm_s),
      failures: perRun.reduce((n, r) => n + r.failures, 0),
      longest_pool_pinned_ms: {
        api: med((r) => r.pools.longest_pinned_ms['chatd-api'] ?? 0),
        worker: med((r) => r.pools.longest_pinned_ms['chatd-worker'] ?? 0),
      },
      runs: perRun.map(({ processes: _p, ...rest }) => rest),
    };
    result.metrics = m;
    result.processes = perRun[Math.floor(perRun.length / 2)]?.processes;
    result.skipped['pool_waits'] =
      'Requests waiting for a pool connection are inside chatd (pg.Pool.waitingCount) and not visible to PostgreSQL; ' +
      'the pinned time is measured from pg_stat_activity instead (see the report for the metric hook).';
    const pinned = Math.max(m.longest_pool_pinned_ms.api ?? 0, m.longest_pool_pinned_ms.worker ?? 0);
    result.headlines.push(
      {
        metric: `failures (${chats} chats × ${turns} turns × ${perRun.length} runs)`,
        value: m.failures,
        unit: '',
        target: '0 failures',
        pass: m.failures === 0,
      },
      {
        metric: 'longest time a pool was fully busy (api, worker)',
        value: pinned,
        unit: 'ms',
        baseline: { name: 'pool size', value: 10, unit: 'connections' },
        target: 'pool never pinned at max > 1 s',
        pass: atMost(pinned, 1000),
      },
      {
        metric: `time to first output p99 (p50 ${m.time_to_first_output_p50_ms} ms; to running p99 ${m.time_to_running_p99_ms} ms)`,
        value: m.time_to_first_output_p99_ms,
        unit: 'ms',
        baseline: { name: 'fake TTFT', value: TTFT, unit: 'ms' },
        ratio: ratio(m.time_to_first_output_p99_ms, TTFT),
        ratio_label: '÷ fake TTFT',
        target: 'moonshot p99 ≤ 5 s',
        pass: atMost(m.time_to_first_output_p99_ms, 5000),
      },
      {
        metric: 'drain time beyond the LLM time',
        value: m.drain_beyond_llm_s,
        unit: 's',
        baseline: { name: 'LLM time of the slowest chat', value: m.llm_time_s, unit: 's' },
        ratio: ratio(m.drain_s, m.llm_time_s),
        ratio_label: 'drain ÷ LLM time',
        target: `moonshot ≤ 12 s beyond the LLM time (for 1,000 × 10)`,
        pass: atMost(minus(m.drain_s, m.llm_time_s), 12),
      },
    );
    return result;
  },
};
