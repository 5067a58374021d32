/**
 * S1, the Temporal floor: a bounded closed loop of start + result of a bare workflow with one no-op
 * activity at concurrency 1/8/32/128 on the dev server (SQLite). Its workflows/s is S3's
 * denominator; transitions come from the server's metrics and from describing sampled runs. When
 * scripts/temporal-server.sh has built the standalone server, the same floor (one run per level) is
 * also recorded on Temporal with PostgreSQL persistence (bench/lib/temporal-cluster.ts).
 */
import { randomBytes } from 'node:crypto';
import { Client as TemporalClient, Connection } from '@temporalio/client';
import { startFloorWorker } from '../floor/worker';
import { resolveTemporalServer, TemporalCluster } from '../lib/temporal-cluster';
import { median, nowMs, ratio, round, summarize } from '../lib/stats';
import { runHistory, scrapeStateTransitions } from '../lib/temporal-stats';
import { newResult, type Scenario, type ScenarioContext, type ScenarioResult } from '../lib/scenario';

export interface FloorPoint {
  concurrency: number;
  workflows_per_s: number | null;
  transitions_per_s: number | null;
  latency_ms: ReturnType<typeof summarize>;
  errors: number;
}

/** A Temporal server to measure: by default the stack's. */
export interface FloorTarget {
  address: string;
  client: TemporalClient;
  metricsUrl: string | null;
  pid: number | null;
}

/** Measures the floor at the given concurrencies (`runs` times each, `seconds` per run). */
export async function measureFloor(
  ctx: ScenarioContext,
  concurrencies: number[],
  runs: number,
  seconds: number,
  target?: FloorTarget,
): Promise<{ points: FloorPoint[]; raw: unknown[]; history: unknown; processes: unknown }> {
  const { stack } = ctx;
  const client = target?.client ?? stack.temporal!.client;
  const metricsUrl = target ? target.metricsUrl : stack.temporalMetricsUrl;
  const temporalGroup = target ? (target.pid ? { pid: target.pid } : undefined) : stack.groups().temporal;
  const worker = await startFloorWorker(target?.address ?? stack.temporalAddress);
  const run = async (id: string): Promise<void> => {
    await client.workflow.execute('floorWorkflow', { taskQueue: worker.taskQueue, workflowId: id, args: [] });
  };
  const raw: Array<Record<string, unknown>> = [];
  const points: FloorPoint[] = [];
  let sampleId = '';
  const stopMeter = ctx.meter.start(() => ({
    temporal: temporalGroup,
    ...(target ? { postgres: stack.groups().postgres } : {}),
    runner: stack.groups().runner,
  }));
  try {
    // Warm-up: bundle loaded, caches and connections hot.
    for (let i = 0; i < 5; i++) await run(`floor-warm-${randomBytes(6).toString('hex')}`);
    for (const concurrency of concurrencies) {
      const perRun: Array<{ wps: number; tps: number | null; latencies: number[]; errors: number }> = [];
      for (let r = 0; r < runs; r++) {
        if (Date.now() > ctx.deadline) break;
        const latencies: number[] = [];
        let errors = 0;
        const transitionsBefore = await scrapeStateTransitions(metricsUrl);
        const started = nowMs();
        const until = started + seconds * 1000;
        await Promise.all(
          Array.from({ length: concurrency }, async () => {
            while (nowMs() < until) {
              const id = `floor-${concurrency}-${randomBytes(6).toString('hex')}`;
              const t0 = nowMs();
              try {
                await run(id);
                latencies.push(nowMs() - t0);
                sampleId = id;
              } catch {
                errors += 1;
              }
            }
          }),
        );
        const elapsedS = (nowMs() - started) / 1000;
        const transitionsAfter = await scrapeStateTransitions(metricsUrl);
        const tps =
          transitionsBefore !== null && transitionsAfter !== null
            ? (transitionsAfter - transitionsBefore) / elapsedS
            : null;
        perRun.push({ wps: latencies.length / elapsedS, tps, latencies, errors });
        raw.push({
          concurrency,
          run: r + 1,
          workflows: latencies.length,
          seconds: round(elapsedS),
          workflows_per_s: round(latencies.length / elapsedS),
          transitions_per_s: round(tps),
          errors,
          latency_ms: summarize(latencies),
        });
        ctx.say(`S1 c=${concurrency} run ${r + 1}: ${round(latencies.length / elapsedS)} wf/s`);
      }
      if (perRun.length === 0) continue;
      points.push({
        concurrency,
        workflows_per_s: median(perRun.map((p) => p.wps)),
        transitions_per_s: median(perRun.map((p) => p.tps)),
        latency_ms: summarize(perRun.flatMap((p) => p.latencies)),
        errors: perRun.reduce((n, p) => n + p.errors, 0),
      });
    }
  } finally {
    await worker.stop();
  }
  const processes = stopMeter();
  const history = sampleId ? await runHistory(client, sampleId) : null;
  return {
    points,
    raw,
    processes,
    history: history && {
      events: history.events,
      state_transitions: history.stateTransitions,
      by_type: history.byType,
    },
  };
}

export const s1: Scenario = {
  id: 'S1',
  title: 'Temporal floor: bare workflow with one no-op activity',
  budgetS: 120,
  async run(ctx): Promise<ScenarioResult> {
    const result = newResult(this.id, this.title);
    const smoke = ctx.scale === 'smoke';
    const concurrencies = smoke ? [1, 4] : [1, 8, 32, 128];
    const runs = smoke ? 1 : 3;
    const seconds = smoke ? 1 : 4;
    result.runs = runs;
    result.scaled_down.push(`each run is a closed loop bounded to ${seconds} s per concurrency level`);
    const floor = await measureFloor(ctx, concurrencies, runs, seconds);
    const peak = floor.points.reduce<FloorPoint | null>(
      (best, p) => (best === null || (p.workflows_per_s ?? 0) > (best.workflows_per_s ?? 0) ? p : best),
      null,
    );
    result.metrics = {
      by_concurrency: floor.points,
      peak_workflows_per_s: peak?.workflows_per_s ?? null,
      peak_concurrency: peak?.concurrency ?? null,
      sampled_workflow_history: floor.history,
    };
    result.processes = floor.processes as ScenarioResult['processes'];
    result.raw = floor.raw;
    for (const p of floor.points) {
      result.headlines.push({
        metric: `workflows/s at concurrency ${p.concurrency} (p50 ${p.latency_ms.p50} ms, p99 ${p.latency_ms.p99} ms)`,
        value: p.workflows_per_s,
        unit: 'wf/s',
        baseline: { name: 'state transitions/s', value: p.transitions_per_s, unit: '/s' },
        ratio: ratio(p.transitions_per_s, p.workflows_per_s),
        ratio_label: 'state transitions per workflow',
        target: 'measured and recorded (denominator of S3)',
        pass: p.errors === 0 ? true : null,
      });
    }
    const onPostgres = await postgresFloor(ctx, concurrencies, seconds);
    if ('skipped' in onPostgres) {
      result.skipped['postgres_backed_temporal'] = onPostgres.skipped;
      return result;
    }
    result.metrics.postgres_backed = { by_concurrency: onPostgres.points, processes: onPostgres.processes };
    for (const p of onPostgres.points) {
      const dev = floor.points.find((d) => d.concurrency === p.concurrency);
      result.headlines.push({
        metric: `workflows/s at concurrency ${p.concurrency}, Temporal on PostgreSQL (p99 ${p.latency_ms.p99} ms)`,
        value: p.workflows_per_s,
        unit: 'wf/s',
        baseline: { name: 'dev server (SQLite), same concurrency', value: dev?.workflows_per_s ?? null, unit: 'wf/s' },
        ratio: ratio(p.workflows_per_s, dev?.workflows_per_s),
        ratio_label: 'PostgreSQL-backed ÷ SQLite dev server',
        target: 'measured and recorded (S12 compares chatd on both)',
        pass: p.errors === 0 ? true : null,
      });
    }
    return result;
  },
};

/**
 * The floor on a standalone Temporal server with PostgreSQL persistence, one run per level, when
 * scripts/temporal-server.sh has built it (S1 never builds: that takes minutes).
 */
async function postgresFloor(
  ctx: ScenarioContext,
  concurrencies: number[],
  seconds: number,
): Promise<{ points: FloorPoint[]; processes: unknown } | { skipped: string }> {
  const resolved = resolveTemporalServer(ctx.say, { cachedOnly: true });
  if ('error' in resolved) {
    return {
      skipped: `no standalone Temporal server built (bash scripts/temporal-server.sh; needs Go): ${resolved.error}`,
    };
  }
  let cluster: TemporalCluster | null = null;
  let connection: Connection | null = null;
  try {
    cluster = await TemporalCluster.start({
      binaries: resolved.binaries,
      postgresUrl: ctx.stack.postgresServerUrl,
      workDir: ctx.stack.workDir,
      say: ctx.say,
    });
    connection = await Connection.connect({ address: cluster.address });
    const floor = await measureFloor(ctx, concurrencies, 1, seconds, {
      address: cluster.address,
      client: new TemporalClient({ connection }),
      metricsUrl: cluster.metricsUrl,
      pid: cluster.pid,
    });
    return { points: floor.points, processes: floor.processes };
  } catch (err) {
    return { skipped: `failed: ${(err as Error).message.slice(0, 300)}` };
  } finally {
    await connection?.close().catch(() => undefined);
    await cluster?.stop().catch(() => undefined);
  }
}
