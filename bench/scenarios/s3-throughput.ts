/**
 * S3, turns/s in a closed loop: N chats × 10 turns with an instant fake LLM, with 0 and 1 tool
 * call per turn. Per point: turns/s (median of runs), turn latency, errors, CPU ms per turn by
 * process, Temporal state transitions and history events per turn, and PostgreSQL statements and
 * commits per turn (S7 reads these too). Each figure is also set against S1's workflows/s at the
 * same concurrency, measured earlier in this invocation or here when S1 did not run.
 */
import { closedLoop } from '../lib/closed-loop';
import type { PgDelta } from '../lib/pg-stats';
import type { GroupUsage } from '../lib/proc';
import { median, ratio, round, summarize } from '../lib/stats';
import { runHistory, runIdsOf, scrapeStateTransitions } from '../lib/temporal-stats';
import { atLeast, atMost, newResult, type Scenario, type ScenarioContext, type ScenarioResult } from '../lib/scenario';
import { measureFloor, type FloorPoint } from './s1-temporal-floor';

export interface ThroughputPoint {
  chats: number;
  tools: number;
  turns_per_s: number | null;
  turns: number;
  latency_ms: ReturnType<typeof summarize>;
  first_part_ms: ReturnType<typeof summarize>;
  errors: number;
  error_kinds: Record<string, number>;
  /** Turns whose `waiting` frame came > 0.5 s after the database showed the chat idle, or never. */
  missed_status_frames: number;
  cpu_ms_per_turn: Record<string, number | null>;
  transitions_per_turn: number | null;
  pg_per_turn: Record<string, number | null>;
  pg_top?: PgDelta['top'];
}

/** Per-turn database figures of a window. */
export function pgPerTurn(delta: PgDelta, turns: number): Record<string, number | null> {
  const per = (n: number | null): number | null => (n === null ? null : ratio(n, turns, 2));
  return {
    statements: per(delta.app_statements),
    selects: per(delta.by_kind.select),
    inserts: per(delta.by_kind.insert),
    updates: per(delta.by_kind.update),
    deletes: per(delta.by_kind.delete),
    config_reads: per(delta.config_reads),
    write_transactions: per(delta.write_transactions),
    explicit_commits: per(delta.explicit_commits),
    round_trips: per(delta.round_trips),
    bus_notifies: per(delta.notifies),
    listen_unlisten: per(delta.listens),
    exec_ms: per(delta.app_exec_ms),
  };
}

/** History events and transitions per run (turn) of a few chats. */
async function sampleHistories(ctx: ScenarioContext, chatIds: string[], chats = 3) {
  const client = ctx.stack.temporal!.client;
  const events: number[] = [];
  const transitions: number[] = [];
  const firstTaskDelay: number[] = [];
  const byType: Record<string, number> = {};
  let runs = 0;
  let continuedAsNew = 0;
  for (const chatId of chatIds.slice(0, chats)) {
    const runIds = await runIdsOf(client, `chat-${chatId}`, 20).catch(() => []);
    for (const runId of runIds) {
      const h = await runHistory(client, `chat-${chatId}`, runId).catch(() => null);
      if (!h) continue;
      runs += 1;
      events.push(h.events);
      if (h.stateTransitions !== null) transitions.push(h.stateTransitions);
      const started = h.firstAt.WorkflowExecutionStarted;
      const firstTask = h.firstAt.WorkflowTaskScheduled;
      if (started !== undefined && firstTask !== undefined) firstTaskDelay.push(firstTask - started);
      if (h.byType.WorkflowExecutionContinuedAsNew) continuedAsNew += 1;
      for (const [k, v] of Object.entries(h.byType)) byType[k] = (byType[k] ?? 0) + v;
    }
  }
  return {
    sampled_runs: runs,
    history_events_per_turn: summarize(events),
    state_transitions_per_turn: summarize(transitions),
    /** Run start → its first workflow task: Temporal delays a run that continued-as-new within 1 s of the previous start. */
    first_workflow_task_delay_ms: summarize(firstTaskDelay),
    runs_ending_in_continue_as_new: continuedAsNew,
    events_by_type_per_turn: Object.fromEntries(
      Object.entries(byType).map(([k, v]) => [k, round(v / Math.max(1, runs))]),
    ),
  };
}

export const s3: Scenario = {
  id: 'S3',
  title: 'Turns/s, closed loop, instant fake LLM',
  budgetS: 330,
  async run(ctx): Promise<ScenarioResult> {
    const result = newResult(this.id, this.title);
    const smoke = ctx.scale === 'smoke';
    const chatCounts = smoke ? [2] : [1, 8, 32, 128];
    const runs = smoke ? 1 : 3;
    const maxSeconds = smoke ? 5 : 10;
    result.runs = runs;
    result.scaled_down.push(
      'N = 1, 8, 32, 128 chats (not 512: the load generator, chatd, PostgreSQL and Temporal share 2 cores)',
      `each run is bounded to ${maxSeconds} s of turns (N × 10 turns or fewer when the window closes)`,
    );
    const points: ThroughputPoint[] = [];
    const raw: unknown[] = [];
    const histories: Record<string, unknown> = {};
    const processes: Record<string, Record<string, GroupUsage>> = {};
    // N outer, tools inner: when the budget runs out, both variants have the smaller N measured.
    for (const chats of chatCounts) {
      for (const tools of [0, 1]) {
        const knobs = tools
          ? { ttft: 0, tps: 0, tokens: 20, tools: 1, tool: 'list_templates' }
          : { ttft: 0, tps: 0, tokens: 20 };
        const perRun: Array<{
          tps: number;
          turns: number;
          lat: number[];
          first: number[];
          errors: number;
          kinds: Record<string, number>;
          missed: number;
          cpu: Record<string, GroupUsage>;
          transitions: number | null;
          pg: PgDelta;
        }> = [];
        let chatIds: string[] = [];
        for (let r = 0; r < runs && Date.now() < ctx.deadline; r++) {
          let stopMeter: (() => Record<string, GroupUsage>) | null = null;
          let transitionsBefore: number | null = null;
          const loop = await closedLoop(ctx, { chats, turnsPerChat: 10, knobs, maxSeconds }, async () => {
            await ctx.pg.begin();
            transitionsBefore = await scrapeStateTransitions(ctx.stack.temporalMetricsUrl);
            stopMeter = ctx.meter.start(() => ctx.stack.groups());
          });
          const cpu = (stopMeter as (() => Record<string, GroupUsage>) | null)?.() ?? {};
          const transitionsAfter = await scrapeStateTransitions(ctx.stack.temporalMetricsUrl);
          const pg = await ctx.pg.end();
          chatIds = loop.chatIds;
          perRun.push({
            tps: loop.turnsPerS,
            turns: loop.turns,
            lat: loop.latencies,
            first: loop.firstPart,
            errors: loop.errors,
            kinds: loop.errorKinds,
            missed: loop.missedStatusFrames,
            cpu,
            transitions:
              transitionsBefore !== null && transitionsAfter !== null ? transitionsAfter - transitionsBefore : null,
            pg,
          });
          raw.push({
            tools,
            chats,
            run: r + 1,
            turns: loop.turns,
            seconds: round(loop.seconds),
            turns_per_s: round(loop.turnsPerS),
            errors: loop.errors,
            error_kinds: loop.errorKinds,
            latency_ms: summarize(loop.latencies),
            pg_per_turn: pgPerTurn(pg, loop.turns),
          });
          ctx.say(`S3 tools=${tools} N=${chats} run ${r + 1}: ${round(loop.turnsPerS)} turns/s, ${loop.errors} errors`);
        }
        if (perRun.length < runs) {
          result.skipped[`tools${tools}_n${chats}`] =
            `${perRun.length} of ${runs} runs: the scenario's time budget ran out (slow turns at larger N)`;
        }
        if (perRun.length === 0) continue;
        const mid = [...perRun].sort((a, b) => a.tps - b.tps)[Math.floor(perRun.length / 2)]!;
        const cpuPerTurn: Record<string, number | null> = {};
        for (const name of Object.keys(mid.cpu)) {
          cpuPerTurn[name] = median(
            perRun.map((p) => (p.cpu[name] ? p.cpu[name].cpu_ms / Math.max(1, p.turns) : null)),
          );
        }
        processes[`tools${tools}_n${chats}`] = mid.cpu;
        const point: ThroughputPoint = {
          chats,
          tools,
          turns_per_s: median(perRun.map((p) => p.tps)),
          turns: perRun.reduce((n, p) => n + p.turns, 0),
          latency_ms: summarize(perRun.flatMap((p) => p.lat)),
          first_part_ms: summarize(perRun.flatMap((p) => p.first)),
          errors: perRun.reduce((n, p) => n + p.errors, 0),
          error_kinds: perRun.reduce<Record<string, number>>((acc, p) => {
            for (const [k, v] of Object.entries(p.kinds)) acc[k] = (acc[k] ?? 0) + v;
            return acc;
          }, {}),
          missed_status_frames: perRun.reduce((n, p) => n + p.missed, 0),
          cpu_ms_per_turn: cpuPerTurn,
          transitions_per_turn: median(
            perRun.map((p) => (p.transitions === null ? null : p.transitions / Math.max(1, p.turns))),
          ),
          pg_per_turn: pgPerTurn(mid.pg, mid.turns),
          pg_top: mid.pg.top.slice(0, 15),
        };
        points.push(point);
        if (chats === chatCounts[Math.min(1, chatCounts.length - 1)]) {
          histories[`tools${tools}`] = await sampleHistories(ctx, chatIds);
        }
      }
    }

    // The floor at the same concurrencies: from S1 in this invocation, or measured now (one short run each).
    const s1Points = (ctx.results.get('S1')?.metrics as { by_concurrency?: FloorPoint[] } | undefined)?.by_concurrency;
    let floor = s1Points;
    let floorSource = 'S1 in this run';
    if (!floor?.length) {
      floor = (await measureFloor(ctx, chatCounts, 1, smoke ? 1 : 3)).points;
      floorSource = 'measured by S3 (S1 did not run in this invocation)';
    }
    const floorAt = (n: number): number | null => floor?.find((p) => p.concurrency === n)?.workflows_per_s ?? null;
    const floorP99At = (n: number): number | null => floor?.find((p) => p.concurrency === n)?.latency_ms?.p99 ?? null;
    const floorPeak = Math.max(...(floor ?? []).map((p) => p.workflows_per_s ?? 0));

    const summaryFor = (tools: number) => {
      const mine = points.filter((p) => p.tools === tools);
      const peak = mine.reduce<ThroughputPoint | null>(
        (b, p) => (!b || (p.turns_per_s ?? 0) > (b.turns_per_s ?? 0) ? p : b),
        null,
      );
      const beyond = peak ? mine.filter((p) => p.chats >= 2 * peak.chats) : [];
      const atTwice = beyond.length ? beyond[0]! : null;
      const half = peak
        ? mine.reduce<ThroughputPoint | null>((b, p) => {
            const target = (peak.turns_per_s ?? 0) / 2;
            return !b || Math.abs((p.turns_per_s ?? 0) - target) < Math.abs((b.turns_per_s ?? 0) - target) ? p : b;
          }, null)
        : null;
      return { peak, atTwice, half };
    };
    const simple = summaryFor(0);
    const withTool = summaryFor(1);
    result.metrics = {
      points,
      floor_source: floorSource,
      floor_workflows_per_s: floor,
      peak: simple.peak && { chats: simple.peak.chats, turns_per_s: simple.peak.turns_per_s },
      peak_with_tool: withTool.peak && { chats: withTool.peak.chats, turns_per_s: withTool.peak.turns_per_s },
      temporal_histories: histories,
    };
    result.processes = processes;
    result.raw = raw;
    for (const p of points) {
      result.headlines.push({
        metric: `turns/s, N=${p.chats}, ${p.tools} tool call(s)/turn (p99 ${p.latency_ms.p99} ms, ${p.errors} errors)`,
        value: p.turns_per_s,
        unit: 'turns/s',
        baseline: { name: `S1 wf/s at c=${p.chats}`, value: floorAt(p.chats), unit: 'wf/s' },
        ratio: ratio(p.turns_per_s, floorAt(p.chats)),
        ratio_label: 'turns/s ÷ S1 wf/s',
        target: 'no errors',
        pass: p.errors === 0,
      });
    }
    for (const [label, s] of [
      ['0 tools', simple],
      ['1 tool', withTool],
    ] as const) {
      if (!s.peak) continue;
      result.headlines.push({
        metric: `no collapse (${label}): turns/s at ≥ 2× the peak's N (${s.atTwice ? `N=${s.atTwice.chats}` : 'none measured'}) ÷ peak (N=${s.peak.chats})`,
        value: s.atTwice ? ratio(s.atTwice.turns_per_s, s.peak.turns_per_s) : null,
        unit: '× peak',
        baseline: { name: 'S1 peak wf/s', value: floorPeak, unit: 'wf/s' },
        ratio: ratio(s.peak.turns_per_s, floorPeak),
        ratio_label: 'peak turns/s ÷ S1 peak wf/s (moonshot ≥ 0.7)',
        target: '≥ 0.9 of peak at 2× saturation',
        pass: s.atTwice ? atLeast(ratio(s.atTwice.turns_per_s, s.peak.turns_per_s), 0.9) : null,
      });
      if (s.half) {
        result.headlines.push({
          metric: `p99 turn latency at ≈ half load (${label}, N=${s.half.chats}, ${s.half.turns_per_s} turns/s)`,
          value: s.half.latency_ms.p99,
          unit: 'ms',
          baseline: { name: `S1 p99 at c=${s.half.chats}`, value: floorP99At(s.half.chats), unit: 'ms' },
          ratio: ratio(s.half.latency_ms.p99, floorP99At(s.half.chats)),
          ratio_label: 'chatd turn p99 ÷ bare workflow p99',
          target: 'moonshot: ≤ 250 ms',
          pass: atMost(s.half.latency_ms.p99, 250),
        });
      }
    }
    if (smoke) result.skipped['collapse_check'] = 'smoke scale: one N only';
    return result;
  },
};
