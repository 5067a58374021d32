/**
 * S12, scale-out: closed-loop turns/s (instant fake LLM, no tool calls) with 2 API processes sharing
 * the load and 1, 2 and 4 worker processes on one task queue, first on a standalone Temporal server
 * with PostgreSQL persistence (docker-compose.yml's topology, bench/lib/temporal-cluster.ts), then on
 * the SQLite dev server the rest of the suite uses. Each backend gets a stack of its own (database,
 * fake LLM, APIs, workers) on the suite's PostgreSQL server. Per point: turns/s (median of runs),
 * turn latency, errors, CPU per process (what bounds it on 2 cores), and PostgreSQL statements per
 * turn, chatd's and the Temporal server's. Headlines: turns/s at 2 and 4 workers ÷ 1 worker, and
 * PostgreSQL-backed ÷ dev server at the same worker count.
 */
import { readFileSync } from 'node:fs';
import * as os from 'node:os';
import { ChatdApi } from '../lib/api';
import { closedLoop, emptyClosedLoopResult, type ClosedLoopResult } from '../lib/closed-loop';
import { PgProbe, type PgDelta } from '../lib/pg-stats';
import type { GroupUsage } from '../lib/proc';
import { newResult, type Scenario, type ScenarioContext, type ScenarioResult } from '../lib/scenario';
import { BenchStack } from '../lib/stack';
import { median, ratio, round, summarize } from '../lib/stats';
import { resolveTemporalServer, TemporalCluster, NUM_HISTORY_SHARDS } from '../lib/temporal-cluster';

type Backend = 'postgres' | 'sqlite';

export interface ScalePoint {
  backend: Backend;
  workers: number;
  turns_per_s: number | null;
  turns: number;
  latency_ms: ReturnType<typeof summarize>;
  errors: number;
  error_kinds: Record<string, number>;
  /** Cores used per process group over the median run's window (2 = the whole machine). */
  cpu_cores: Record<string, number>;
  cpu_cores_total: number;
  /** Cores busy on the whole machine (/proc/stat): the difference is other tenants' load. */
  machine_cores_busy: number | null;
  cpu_ms_per_turn: Record<string, number | null>;
  /** Statements per turn in chatd's database and in the Temporal server's (PostgreSQL backend only). */
  pg_statements_per_turn: { chatd: number | null; temporal: number | null };
}

interface Run {
  loop: ClosedLoopResult;
  cpu: Record<string, GroupUsage>;
  chatdPg: PgDelta | null;
  temporalPg: PgDelta | null;
  machineCores: number | null;
}

/** The machine's busy and total CPU ticks so far (first line of /proc/stat), or null off Linux. */
function machineTicks(): { busy: number; total: number } | null {
  try {
    const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    const total = fields.slice(0, 8).reduce((a, b) => a + b, 0);
    // idle and iowait are fields 4 and 5 of the cpu line.
    return { busy: total - fields[3]! - (fields[4] ?? 0), total };
  } catch {
    return null;
  }
}

interface Sizes {
  workerCounts: number[];
  chats: number;
  runs: number;
  seconds: number;
}

/**
 * One window: the load split over the stack's APIs (chats/apis each, every chat on one API), timed
 * from the moment every loop's chats exist and finished their first turn.
 */
async function measure(
  ctx: ScenarioContext,
  stack: BenchStack,
  apis: ChatdApi[],
  probes: { chatd: PgProbe; temporal: PgProbe | null },
  sizes: Sizes,
): Promise<Run> {
  let stopMeter: (() => Record<string, GroupUsage>) | null = null;
  let arrived = 0;
  let machineBefore: { busy: number; total: number } | null = null;
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  const onWindow = async (): Promise<void> => {
    arrived += 1;
    if (arrived === apis.length) {
      await probes.chatd.begin();
      await probes.temporal?.begin();
      stopMeter = ctx.meter.start(() => stack.groups());
      machineBefore = machineTicks();
      open();
    }
    await opened;
  };
  const loops = await Promise.all(
    apis.map((api) =>
      closedLoop(
        { ...ctx, stack, api, pg: probes.chatd },
        {
          chats: sizes.chats / apis.length,
          turnsPerChat: 100_000,
          knobs: { ttft: 0, tps: 0, tokens: 20 },
          maxSeconds: sizes.seconds,
          warm: true,
        },
        onWindow,
      ),
    ),
  );
  const cpu = (stopMeter as (() => Record<string, GroupUsage>) | null)?.() ?? {};
  const machineAfter = machineTicks();
  const before = machineBefore as { busy: number; total: number } | null;
  // Ticks over all cores: busy share of the total, times the core count.
  const machineCores =
    before && machineAfter && machineAfter.total > before.total
      ? ((machineAfter.busy - before.busy) / (machineAfter.total - before.total)) * os.cpus().length
      : null;
  const chatdPg = await probes.chatd.end().catch(() => null);
  const temporalPg = probes.temporal ? await probes.temporal.end().catch(() => null) : null;
  const loop = emptyClosedLoopResult();
  for (const l of loops) {
    loop.turns += l.turns;
    loop.seconds = Math.max(loop.seconds, l.seconds);
    loop.latencies.push(...l.latencies);
    loop.firstPart.push(...l.firstPart);
    loop.errors += l.errors;
    for (const [k, v] of Object.entries(l.errorKinds)) loop.errorKinds[k] = (loop.errorKinds[k] ?? 0) + v;
    loop.missedStatusFrames += l.missedStatusFrames;
    loop.chatIds.push(...l.chatIds);
  }
  loop.turnsPerS = loop.turns / Math.max(0.001, loop.seconds);
  return { loop, cpu, chatdPg, temporalPg, machineCores };
}

/** The curve on one Temporal backend: a fresh chatd stack with 2 APIs, then 1 → 2 → 4 workers. */
async function curve(
  ctx: ScenarioContext,
  backend: Backend,
  temporal: { address: string; pid: number | null; metricsUrl: string | null; database: string | null },
  sizes: Sizes,
  raw: unknown[],
  processes: Record<string, Record<string, GroupUsage>>,
  notes: string[],
): Promise<ScalePoint[]> {
  const stack = await BenchStack.start({
    say: ctx.say,
    postgresUrl: ctx.stack.postgresServerUrl,
    temporalAddress: temporal.address,
    temporalPid: temporal.pid,
    temporalMetricsUrl: temporal.metricsUrl,
  });
  const apis: ChatdApi[] = [];
  const chatdProbe = new PgProbe(stack.databaseUrl, stack.database);
  let temporalProbe: PgProbe | null = null;
  const points: ScalePoint[] = [];
  try {
    stack.addApi(await stack.startApi());
    for (const a of stack.apis) apis.push(new ChatdApi(a.url, stack.token, `${stack.fakeUrl}/v1`));
    // Model configs live in the shared database: every API uses the ones the first created.
    for (const other of apis.slice(1)) other.modelConfig = (knobs) => apis[0]!.modelConfig(knobs);
    await chatdProbe.connect();
    if (temporal.database) {
      const url = new URL(ctx.stack.postgresServerUrl);
      url.pathname = `/${temporal.database}`;
      temporalProbe = new PgProbe(url.toString(), temporal.database);
      await temporalProbe.connect();
    }
    // Every worker starts at once and the curve is measured from the most workers down, stopping
    // some between points: all of a stack's workers then run the same code (the bench runs the
    // source tree through tsx, so a worker spawned later would run later edits). Each window uses
    // new chats, so no workflow is cached on a stopped worker.
    const most = Math.max(...sizes.workerCounts);
    await Promise.all(Array.from({ length: most - 1 }, () => stack.addWorker()));
    for (const workers of [...sizes.workerCounts].sort((a, b) => b - a)) {
      if (Date.now() > ctx.deadline) break;
      await stack.stopExtraWorkers(workers - 1);
      const runs: Run[] = [];
      for (let r = 0; r < sizes.runs && Date.now() < ctx.deadline; r++) {
        const run = await measure(ctx, stack, apis, { chatd: chatdProbe, temporal: temporalProbe }, sizes);
        runs.push(run);
        raw.push({
          backend,
          workers,
          run: r + 1,
          turns: run.loop.turns,
          seconds: round(run.loop.seconds),
          turns_per_s: round(run.loop.turnsPerS),
          errors: run.loop.errors,
          error_kinds: run.loop.errorKinds,
          latency_ms: summarize(run.loop.latencies),
          cpu_cores: Object.fromEntries(Object.entries(run.cpu).map(([k, v]) => [k, v.cpu_cores])),
          machine_cores_busy: round(run.machineCores),
        });
        ctx.say(
          `S12 ${backend} workers=${workers} run ${r + 1}: ${round(run.loop.turnsPerS)} turns/s, ` +
            `p99 ${summarize(run.loop.latencies).p99} ms, ${run.loop.errors} errors`,
        );
      }
      if (!runs.length) continue;
      const point = pointOf(backend, workers, runs);
      points.push(point.point);
      processes[`${backend}_w${workers}`] = point.usage;
    }
  } finally {
    for (const a of apis) a.close();
    await chatdProbe.close();
    await temporalProbe?.close();
    // Logs are kept when a turn failed, for finding out why.
    const failed = points.some((p) => p.errors > 0);
    if (failed) notes.push(`${backend}: turns failed; the stack's logs are kept in ${stack.workDir}`);
    await stack.stop(failed);
  }
  return points;
}

/** The median run's point, and its CPU and RSS per process. */
function pointOf(
  backend: Backend,
  workers: number,
  runs: Run[],
): { point: ScalePoint; usage: Record<string, GroupUsage> } {
  const mid = [...runs].sort((a, b) => a.loop.turnsPerS - b.loop.turnsPerS)[Math.floor(runs.length / 2)]!;
  const perTurn = (n: number | null | undefined, turns: number): number | null =>
    n === null || n === undefined ? null : ratio(n, Math.max(1, turns), 2);
  const cpuPerTurn: Record<string, number | null> = {};
  for (const name of Object.keys(mid.cpu)) {
    cpuPerTurn[name] = round(
      median(runs.map((r) => (r.cpu[name] ? r.cpu[name].cpu_ms / Math.max(1, r.loop.turns) : null))),
    );
  }
  const cores = Object.fromEntries(Object.entries(mid.cpu).map(([k, v]) => [k, v.cpu_cores]));
  const point: ScalePoint = {
    backend,
    workers,
    turns_per_s: round(median(runs.map((r) => r.loop.turnsPerS))),
    turns: runs.reduce((n, r) => n + r.loop.turns, 0),
    latency_ms: summarize(runs.flatMap((r) => r.loop.latencies)),
    errors: runs.reduce((n, r) => n + r.loop.errors, 0),
    error_kinds: runs.reduce<Record<string, number>>((acc, r) => {
      for (const [k, v] of Object.entries(r.loop.errorKinds)) acc[k] = (acc[k] ?? 0) + v;
      return acc;
    }, {}),
    cpu_cores: cores,
    cpu_cores_total: round(Object.values(cores).reduce((a, b) => a + b, 0)) ?? 0,
    machine_cores_busy: round(mid.machineCores),
    cpu_ms_per_turn: cpuPerTurn,
    pg_statements_per_turn: {
      chatd: perTurn(mid.chatdPg?.app_statements, mid.loop.turns),
      temporal: perTurn(mid.temporalPg?.app_statements, mid.loop.turns),
    },
  };
  return { point, usage: mid.cpu };
}

/** Process groups by the cores they used, busiest first, summed over roles (api+api2, worker…). */
function byRole(point: ScalePoint): Array<{ role: string; cores: number }> {
  const roles: Record<string, number> = {};
  for (const [name, cores] of Object.entries(point.cpu_cores)) {
    const role = name.replace(/\d+$/, '');
    roles[role] = (roles[role] ?? 0) + cores;
  }
  return Object.entries(roles)
    .map(([role, cores]) => ({ role, cores: round(cores) ?? 0 }))
    .sort((a, b) => b.cores - a.cores);
}

export const s12: Scenario = {
  id: 'S12',
  title: 'Scale-out: workers on a PostgreSQL-backed Temporal server vs the dev server',
  budgetS: 420,
  async run(ctx): Promise<ScenarioResult> {
    const result = newResult(this.id, this.title);
    const smoke = ctx.scale === 'smoke';
    const sizes: Sizes = smoke
      ? { workerCounts: [1, 2], chats: 8, runs: 1, seconds: 3 }
      : { workerCounts: [1, 2, 4], chats: 64, runs: 2, seconds: 10 };
    result.runs = sizes.runs;
    result.scaled_down.push(
      `${sizes.chats} chats (${sizes.chats / 2} per API process), ${sizes.seconds} s windows, ${sizes.runs} runs per point: every process shares 2 cores`,
      `the Temporal server runs all four services in one process with ${NUM_HISTORY_SHARDS} history shards (docker-compose.yml's default), not one process per service`,
    );
    const raw: unknown[] = [];
    const notes: string[] = [];
    const processes: Record<string, Record<string, GroupUsage>> = {};
    const points: ScalePoint[] = [];

    const resolved = resolveTemporalServer(ctx.say);
    if ('error' in resolved) {
      result.skipped['postgres_backed_temporal'] = resolved.error;
    } else {
      let cluster: TemporalCluster | null = null;
      try {
        cluster = await TemporalCluster.start({
          binaries: resolved.binaries,
          postgresUrl: ctx.stack.postgresServerUrl,
          workDir: ctx.stack.workDir,
          say: ctx.say,
        });
        points.push(
          ...(await curve(
            ctx,
            'postgres',
            {
              address: cluster.address,
              pid: cluster.pid,
              metricsUrl: cluster.metricsUrl,
              database: cluster.databases[0]!,
            },
            sizes,
            raw,
            processes,
            notes,
          )),
        );
      } catch (err) {
        ctx.say(`S12 postgres backend failed: ${(err as Error).stack ?? String(err)}`);
        result.skipped['postgres_backed_temporal'] = `failed: ${(err as Error).message.slice(0, 400)}`;
      } finally {
        await cluster?.stop().catch(() => undefined);
      }
    }
    points.push(
      ...(await curve(
        ctx,
        'sqlite',
        {
          address: ctx.stack.temporalAddress,
          pid: ctx.stack.temporalPid,
          metricsUrl: ctx.stack.temporalMetricsUrl,
          database: null,
        },
        sizes,
        raw,
        processes,
        notes,
      )),
    );

    points.sort((a, b) => (a.backend === b.backend ? a.workers - b.workers : a.backend === 'postgres' ? -1 : 1));
    const at = (backend: Backend, workers: number): ScalePoint | undefined =>
      points.find((p) => p.backend === backend && p.workers === workers);
    for (const backend of ['postgres', 'sqlite'] as const) {
      for (const workers of sizes.workerCounts) {
        if (!at(backend, workers)) {
          result.skipped[`${backend}_w${workers}`] ??=
            backend === 'postgres' && result.skipped['postgres_backed_temporal']
              ? 'no PostgreSQL-backed Temporal server (see postgres_backed_temporal)'
              : "the scenario's time budget ran out";
        }
      }
    }
    for (const p of points) {
      result.headlines.push({
        metric: `turns/s, ${p.backend === 'postgres' ? 'Temporal on PostgreSQL' : 'dev server (SQLite)'}, 2 APIs, ${p.workers} worker(s), N=${sizes.chats} (p99 ${p.latency_ms.p99} ms, ${p.errors} errors)`,
        value: p.turns_per_s,
        unit: 'turns/s',
        baseline: { name: 'cores used, all processes', value: p.cpu_cores_total, unit: 'cores' },
        ratio: null,
        target: 'no errors',
        pass: p.errors === 0,
      });
    }
    for (const backend of ['postgres', 'sqlite'] as const) {
      const one = at(backend, 1);
      for (const workers of sizes.workerCounts.filter((w) => w > 1)) {
        const p = at(backend, workers);
        if (!one || !p) continue;
        result.headlines.push({
          metric: `scaling, ${backend === 'postgres' ? 'Temporal on PostgreSQL' : 'dev server'}: turns/s at ${workers} workers ÷ 1 worker`,
          value: ratio(p.turns_per_s, one.turns_per_s),
          unit: '×',
          baseline: { name: 'turns/s at 1 worker', value: one.turns_per_s, unit: 'turns/s' },
          ratio: ratio(p.turns_per_s, one.turns_per_s),
          ratio_label: `${workers} workers ÷ 1 (linear would be ${workers}; 2 cores cap it)`,
          target: 'measured (no more cores to scale into here)',
          pass: null,
        });
      }
    }
    for (const workers of sizes.workerCounts) {
      const pgPoint = at('postgres', workers);
      const devPoint = at('sqlite', workers);
      if (!pgPoint || !devPoint) continue;
      result.headlines.push({
        metric: `Temporal on PostgreSQL ÷ dev server, ${workers} worker(s)`,
        value: pgPoint.turns_per_s,
        unit: 'turns/s',
        baseline: { name: 'dev server (SQLite)', value: devPoint.turns_per_s, unit: 'turns/s' },
        ratio: ratio(pgPoint.turns_per_s, devPoint.turns_per_s),
        ratio_label: 'PostgreSQL-backed ÷ SQLite dev server',
        target: 'measured',
        pass: null,
      });
    }
    const bounds: Record<string, unknown> = {};
    for (const p of points) {
      const roles = byRole(p);
      bounds[`${p.backend}_w${p.workers}`] = { cores_total: p.cpu_cores_total, by_role: roles };
      if (p.workers === sizes.workerCounts[sizes.workerCounts.length - 1]) {
        notes.push(
          `${p.backend}, ${p.workers} workers: ${p.cpu_cores_total} of ${os.cpus().length} cores used by the stack ` +
            `(${p.machine_cores_busy ?? '?'} busy machine-wide); ` +
            roles
              .slice(0, 4)
              .map((r) => `${r.role} ${r.cores}`)
              .join(', '),
        );
      }
    }
    result.metrics = { chats: sizes.chats, apis: 2, history_shards: NUM_HISTORY_SHARDS, points, cpu_bound: bounds };
    result.processes = processes;
    result.raw = raw;
    result.notes = notes;
    return result;
  },
};
