/**
 * S2, added time to first token: POST a message on a chat whose stream is open → first
 * `message_part` frame, minus the same client's time to first token streaming from the fake
 * directly (interleaved, same model knobs), at fake TTFT 0 and 300 ms. Each chatd turn is split
 * into stages with its Temporal history and the fake's arrival time: HTTP up to the workflow start,
 * the rest of the request, the first workflow task, activity dispatch, the activity's own work up to
 * the provider request, the provider, and publish → SSE. Optionally repeated under background load
 * at half of S3's peak concurrency.
 */
import { ChatdApi, knobModel } from '../lib/api';
import { ChatDriver, waitRunClosed, type TurnTiming } from '../lib/chat-driver';
import { streamDirect } from '../lib/fake-direct';
import { fakeRequests, requestsOf } from '../lib/fake-control';
import { stampsIn } from '../lib/sse';
import { median, minus, ratio, round, sleep, summarize } from '../lib/stats';
import { runHistory } from '../lib/temporal-stats';
import { atMost, newResult, type Scenario, type ScenarioContext, type ScenarioResult } from '../lib/scenario';

interface Stages {
  http_to_workflow_started: number | null;
  workflow_started_to_ack: number | null;
  first_workflow_task: number | null;
  activity_dispatch: number | null;
  activity_to_provider_request: number | null;
  provider_first_token: number | null;
  publish_to_sse_frame: number | null;
}

interface TurnSample {
  ttft: number;
  ack: number;
  stages: Stages;
  /** Temporal's ActivityTaskStarted time and the first token's emit stamp, for the provider stages. */
  activityStartedAt: number | undefined;
  stamp: number | undefined;
}

const diff = (a: number | undefined | null, b: number | undefined | null): number | null =>
  a === undefined || a === null || b === undefined || b === null ? null : round(a - b);

/** Splits one measured turn into stages (the provider's arrival time is filled in after the run). */
async function sampleOf(ctx: ScenarioContext, chatId: string, timing: TurnTiming): Promise<TurnSample> {
  const history = await runHistory(ctx.stack.temporal!.client, `chat-${chatId}`).catch(() => null);
  const started = history?.firstAt.WorkflowExecutionStarted;
  const scheduled = history?.firstAt.ActivityTaskScheduled;
  const activityStarted = history?.firstAt.ActivityTaskStarted;
  const stamp = timing.firstPart ? stampsIn(timing.firstPart.data)[0] : undefined;
  return {
    ttft: timing.firstPartAt! - timing.sentAt,
    ack: timing.ackAt - timing.sentAt,
    activityStartedAt: activityStarted,
    stamp,
    stages: {
      http_to_workflow_started: diff(started, timing.sentAt),
      workflow_started_to_ack: diff(timing.ackAt, started),
      first_workflow_task: diff(scheduled, started),
      activity_dispatch: diff(activityStarted, scheduled),
      activity_to_provider_request: null,
      provider_first_token: null,
      publish_to_sse_frame: diff(timing.firstPartAt, stamp),
    },
  };
}

/** One run: a warm chat, then `turns` measured turns, each preceded by one direct stream. */
async function measureRun(
  ctx: ScenarioContext,
  ttft: number,
  turns: number,
  api: ChatdApi = ctx.api,
): Promise<{ chatd: TurnSample[]; direct: number[]; errors: number; missedStatus: number }> {
  const knobs = { ttft, tps: 0, tokens: 20, ts: true };
  const modelConfigId = await api.modelConfig(knobs);
  const model = knobModel(knobs);
  const { driver, created } = await ChatDriver.create(api, ctx.pg, modelConfigId, 'warm up');
  const chatd: TurnSample[] = [];
  const direct: number[] = [];
  let errors = 0;
  let missedStatus = 0;
  try {
    await driver.finish(created, 0, 30_000);
    for (let i = 0; i < turns && Date.now() < ctx.deadline; i++) {
      // A message to an idle chat whose last run has closed: the plain path (S3 measures the hand-over).
      await waitRunClosed(ctx.stack.temporal!.client, driver.chatId);
      const d = await streamDirect(`${ctx.stack.fakeUrl}/v1`, model, api.agent);
      if (d.ttftMs !== null) direct.push(d.ttftMs);
      const timing = await driver.send(`turn ${i + 2}`, 30_000);
      if (timing.missedStatusFrame) missedStatus += 1;
      if (timing.status !== 'waiting' || timing.firstPartAt === null) {
        errors += 1;
        continue;
      }
      // The history of the turn's run, read before the next turn starts another run.
      chatd.push(await sampleOf(ctx, driver.chatId, timing));
    }
  } finally {
    driver.close();
  }
  // Provider arrival times: the chat's requests in order, one per turn after the warm-up.
  const requests = requestsOf(await fakeRequests(ctx.stack.fakeUrl), driver.chatId).slice(1);
  if (requests.length === chatd.length) {
    chatd.forEach((sample, i) => {
      const receivedAt = requests[i]!.receivedAt;
      sample.stages.activity_to_provider_request = diff(receivedAt, sample.activityStartedAt);
      sample.stages.provider_first_token = diff(sample.stamp, receivedAt);
    });
  }
  return { chatd, direct, errors, missedStatus };
}

function stageMedians(samples: TurnSample[]): Record<keyof Stages, number | null> {
  const keys = Object.keys(samples[0]?.stages ?? {}) as Array<keyof Stages>;
  return Object.fromEntries(keys.map((k) => [k, median(samples.map((s) => s.stages[k]))])) as Record<
    keyof Stages,
    number | null
  >;
}

type Run = Awaited<ReturnType<typeof measureRun>>;

/** The runs of one configuration: each run's figures and their medians. */
function summarizeRuns(perRun: Run[]) {
  const runStats = perRun.map((run) => {
    const chatdTtft = summarize(run.chatd.map((s) => s.ttft));
    const direct = summarize(run.direct);
    return {
      chatd_ttft_ms: chatdTtft,
      direct_ttft_ms: direct,
      added_p50_ms: minus(chatdTtft.p50, direct.p50),
      added_p99_ms: minus(chatdTtft.p99, direct.p99),
      ack_ms: summarize(run.chatd.map((s) => s.ack)),
      stages_p50_ms: stageMedians(run.chatd),
      errors: run.errors,
      missed_status_frames: run.missedStatus,
    };
  });
  const all = perRun.flatMap((r) => r.chatd);
  return {
    added_p50_ms: median(runStats.map((s) => s.added_p50_ms)),
    added_p99_ms: median(runStats.map((s) => s.added_p99_ms)),
    chatd_ttft_p50_ms: median(runStats.map((s) => s.chatd_ttft_ms.p50)),
    chatd_ttft_p99_ms: median(runStats.map((s) => s.chatd_ttft_ms.p99)),
    direct_ttft_p50_ms: median(runStats.map((s) => s.direct_ttft_ms.p50)),
    direct_ttft_p99_ms: median(runStats.map((s) => s.direct_ttft_ms.p99)),
    post_ack_p50_ms: median(runStats.map((s) => s.ack_ms.p50)),
    breakdown_p50_ms: stageMedians(all),
    errors: runStats.reduce((n, s) => n + s.errors, 0),
    missed_status_frames: runStats.reduce((n, s) => n + s.missed_status_frames, 0),
    runs: runStats,
  };
}

/** Background closed-loop load: `chats` chats sending turns back to back until stopped. */
function backgroundLoad(ctx: ScenarioContext, chats: number): { stop: () => Promise<number> } {
  let stopping = false;
  let turns = 0;
  const loops = Array.from({ length: chats }, async (_, i) => {
    const modelConfigId = await ctx.api.modelConfig({ ttft: 0, tps: 0, tokens: 20 });
    const { driver, created } = await ChatDriver.create(ctx.api, ctx.pg, modelConfigId, `load ${i}`);
    try {
      await driver.finish(created, 0, 30_000);
      while (!stopping) {
        await driver.send('more', 30_000);
        turns += 1;
      }
    } finally {
      driver.close();
    }
  });
  return {
    async stop() {
      stopping = true;
      await Promise.allSettled(loops);
      return turns;
    },
  };
}

export const s2: Scenario = {
  id: 'S2',
  title: 'Added time to first token (chatd TTFT − direct-to-fake TTFT)',
  budgetS: 240,
  async run(ctx): Promise<ScenarioResult> {
    const result = newResult(this.id, this.title);
    const smoke = ctx.scale === 'smoke';
    const runs = smoke ? 1 : 3;
    const turns = smoke ? 3 : 12;
    result.runs = runs;
    if (!smoke) result.scaled_down.push(`${turns} measured turns per run (plus one warm-up turn per chat)`);
    const ttfts = smoke ? [0] : [0, 300];
    const stopMeter = ctx.meter.start(() => ctx.stack.groups());
    const byTtft: Record<string, unknown> = {};
    for (const ttft of ttfts) {
      const perRun: Run[] = [];
      for (let r = 0; r < runs && Date.now() < ctx.deadline; r++) {
        const run = await measureRun(ctx, ttft, turns);
        perRun.push(run);
        ctx.say(
          `S2 ttft=${ttft} run ${r + 1}: chatd TTFT p50 ${summarize(run.chatd.map((s) => s.ttft)).p50} ms, direct p50 ${summarize(run.direct).p50} ms`,
        );
      }
      const entry = summarizeRuns(perRun);
      byTtft[`fake_ttft_${ttft}ms`] = entry;
      result.headlines.push(
        {
          metric: `added TTFT p50, fake TTFT ${ttft} ms`,
          value: entry.added_p50_ms,
          unit: 'ms',
          baseline: { name: 'direct TTFT p50', value: entry.direct_ttft_p50_ms, unit: 'ms' },
          ratio: ratio(entry.chatd_ttft_p50_ms, entry.direct_ttft_p50_ms),
          ratio_label: 'chatd TTFT ÷ direct TTFT',
          target: 'p50 ≤ 30 ms',
          pass: atMost(entry.added_p50_ms, 30),
        },
        {
          metric: `added TTFT p99, fake TTFT ${ttft} ms`,
          value: entry.added_p99_ms,
          unit: 'ms',
          baseline: { name: 'direct TTFT p99', value: entry.direct_ttft_p99_ms, unit: 'ms' },
          ratio: ratio(entry.chatd_ttft_p99_ms, entry.direct_ttft_p99_ms),
          ratio_label: 'chatd TTFT ÷ direct TTFT',
          target: 'p99 ≤ 100 ms',
          pass: atMost(entry.added_p99_ms, 100),
        },
      );
    }
    result.metrics = { by_fake_ttft: byTtft };

    result.processes = stopMeter();

    // The same at fake TTFT 0 against one process running the API and the worker (`npm start`), where a
    // new turn's first model step starts as soon as its message commits (the early first step), and, as
    // the baseline of the same run, that process with the early step off.
    if (Date.now() < ctx.deadline - 40_000) {
      const measureOne = async (early: boolean): Promise<ReturnType<typeof summarizeRuns>> => {
        const one = await ctx.stack.startOneProcess({ CHATD_EARLY_FIRST_STEP: String(early) });
        try {
          const api = new ChatdApi(one.url, ctx.api.token, `${ctx.stack.fakeUrl}/v1`);
          const perRun: Run[] = [];
          for (let r = 0; r < runs && Date.now() < ctx.deadline; r++) {
            const run = await measureRun(ctx, 0, turns, api);
            perRun.push(run);
            const p50 = summarize(run.chatd.map((s) => s.ttft)).p50;
            ctx.say(`S2 one process, early ${early ? 'on' : 'off'}, run ${r + 1}: chatd TTFT p50 ${p50} ms`);
          }
          return summarizeRuns(perRun);
        } finally {
          await one.stop();
        }
      };
      const off = await measureOne(false);
      const on = await measureOne(true);
      result.metrics.one_process = { early_off: off, early_on: on };
      for (const [p, limit] of [
        ['p50', 15],
        ['p99', 50],
      ] as const) {
        const value = (e: typeof on): number | null => (p === 'p50' ? e.added_p50_ms : e.added_p99_ms);
        result.headlines.push({
          metric: `added TTFT ${p}, one process (API + worker) with the early first step, fake TTFT 0`,
          value: value(on),
          unit: 'ms',
          baseline: { name: `the same with CHATD_EARLY_FIRST_STEP=false`, value: value(off), unit: 'ms' },
          ratio: ratio(value(on), value(off)),
          ratio_label: 'early on ÷ early off',
          target: `${p} ≤ ${limit} ms`,
          pass: atMost(value(on), limit),
        });
      }
    } else {
      result.skipped['one_process'] = 'time budget used up';
    }

    // Moonshot: the same at half of S3's peak load, when S3 ran earlier in this invocation.
    const s3 = ctx.results.get('S3')?.metrics as { peak?: { chats?: number } } | undefined;
    const peakChats = s3?.peak?.chats;
    if (smoke) {
      result.skipped['under_half_peak_load'] = 'smoke scale';
    } else if (!peakChats) {
      result.skipped['under_half_peak_load'] = 'S3 did not run earlier in this invocation (run the full suite)';
    } else if (Date.now() > ctx.deadline - 20_000) {
      result.skipped['under_half_peak_load'] = 'time budget used up';
    } else {
      const chats = Math.max(1, Math.floor(peakChats / 2));
      const load = backgroundLoad(ctx, chats);
      await sleep(3000);
      const run = await measureRun(ctx, 0, turns);
      const loadTurns = await load.stop();
      const chatdTtft = summarize(run.chatd.map((s) => s.ttft));
      const direct = summarize(run.direct);
      const entry = {
        background_chats: chats,
        background_turns: loadTurns,
        added_p50_ms: minus(chatdTtft.p50, direct.p50),
        added_p99_ms: minus(chatdTtft.p99, direct.p99),
        chatd_ttft_ms: chatdTtft,
        direct_ttft_ms: direct,
        breakdown_p50_ms: stageMedians(run.chatd),
        errors: run.errors,
      };
      result.metrics.under_half_peak_load = entry;
      result.headlines.push({
        metric: `added TTFT p99 at half S3 peak load (${chats} busy chats), fake TTFT 0`,
        value: entry.added_p99_ms,
        unit: 'ms',
        baseline: { name: 'direct TTFT p99', value: direct.p99, unit: 'ms' },
        ratio: ratio(chatdTtft.p99, direct.p99),
        ratio_label: 'chatd TTFT ÷ direct TTFT',
        target: 'moonshot: p50 ≤ 15 ms, p99 ≤ 50 ms',
        pass: atMost(entry.added_p99_ms, 50),
      });
    }
    return result;
  },
};
