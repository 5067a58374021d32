/**
 * S11, peers: chatd beside the alternatives, driven by one load generator (bench/lib/peer-driver.ts)
 * against the same fake model in the same run: the OpenAI Agents SDK on Temporal (Python, its own
 * task queue on the bench's Temporal server), LangGraph with its PostgreSQL checkpointer (Python,
 * its own database on the bench's PostgreSQL server), and a non-durable passthrough (the floor).
 * Per system: added TTFT at fake TTFT 0, closed-loop turns/s, a kill -9 of the process running the
 * model call mid-turn, and storage cost per turn. Headlines are chatd ÷ peer. README "Peers".
 */
import { randomBytes } from 'node:crypto';
import * as path from 'node:path';
import { Client as PgClient } from 'pg';
import type { Knobs } from '../lib/api';
import { ChatdSystem, closedLoopOf, PeerSystem, type TurnSystem } from '../lib/peer-driver';
import { measureCrash, measureTtftInterleaved, rowsWritten } from '../lib/peer-measures';
import { healthy, installPythonPeers, loopbackPort, PEERS_DIR, PeerProcess, polling } from '../lib/peer-procs';
import { PgProbe } from '../lib/pg-stats';
import { REPO_ROOT } from '../lib/stack';
import { nowMs, ratio, round, sleep } from '../lib/stats';
import { runHistory } from '../lib/temporal-stats';
import { headlinesOf, type SystemFigures } from './s11-headlines';
import { newResult, type Scenario, type ScenarioContext, type ScenarioResult } from '../lib/scenario';

const INSTANT: Knobs = { ttft: 0, tps: 0, tokens: 20, ts: true };
const PACED: Knobs = { ttft: 0, tps: 20, tokens: 100, ts: true };

interface Entry {
  system: TurnSystem;
  /** kill -9 the process running the model call and start it again; resolves with the restart, s. */
  kill: () => Promise<number>;
  /** What the crash test kills. */
  killTarget: string;
  /** Storage per turn over `turns` sequential turns on warm threads. */
  storage: (turns: number) => Promise<Record<string, number | null>>;
  /** Wait after the kill for the system to finish the turns on its own. */
  waitMs: number;
  stop: () => Promise<void>;
}

async function timedRestart(kill: () => Promise<void>, start: () => Promise<void>): Promise<number> {
  await kill();
  const t0 = nowMs();
  await start();
  return (nowMs() - t0) / 1000;
}

/** Sequential turns on two warm threads; returns the turns' results. */
async function sequentialTurns(
  system: TurnSystem,
  turns: number,
  knobs: Knobs,
  within: () => Promise<void>,
  afterTurn: (threadId: string) => Promise<void> = async () => undefined,
) {
  const ids = await Promise.all([0, 1].map(() => system.newThread(knobs)));
  for (const id of ids) await system.settle(id);
  const results: Array<{ id: string; done?: Record<string, unknown>; ok: boolean }> = [];
  await within();
  for (let t = 0; t < turns; t++) {
    const id = ids[t % ids.length]!;
    const r = await system.turn(id, `storage ${t}`, knobs, 30_000);
    await system.settle(id);
    await afterTurn(id);
    results.push({ id, done: r.done, ok: r.ok });
  }
  return results;
}

function chatdEntry(ctx: ScenarioContext): Entry {
  const client = ctx.stack.temporal!.client;
  const system = new ChatdSystem(ctx.api, ctx.pg, client);
  return {
    system,
    killTarget: 'chatd worker',
    waitMs: 60_000,
    kill: () =>
      timedRestart(
        () => ctx.stack.worker!.kill9(),
        async () => void (await ctx.stack.startWorker()),
      ),
    storage: async (turns) => {
      const events: number[] = [];
      let ok = 0;
      // A turn on an idle chat is one run of its workflow: read that run's history once it closed.
      const results = await sequentialTurns(
        system,
        turns,
        INSTANT,
        () => ctx.pg.begin(),
        async (id) => {
          const h = await runHistory(client, `chat-${id}`).catch(() => null);
          if (h) events.push(h.events);
        },
      );
      await sleep(200);
      const delta = await ctx.pg.end();
      for (const r of results) {
        if (r.ok) ok += 1;
      }
      return {
        turns: ok,
        app_statements: ratio(delta.app_statements, ok, 2),
        rows_written: ratio(rowsWritten(delta.top), ok, 2),
        write_transactions: ratio(delta.write_transactions, ok, 2),
        temporal_history_events: events.length ? round(events.reduce((a, b) => a + b, 0) / events.length) : null,
      };
    },
    stop: async () => system.close(),
  };
}

async function passthroughEntry(ctx: ScenarioContext): Promise<Entry> {
  const { port, url } = await loopbackPort();
  const proc = new PeerProcess(
    {
      name: 'passthrough',
      command: process.execPath,
      args: ['--import', 'tsx', path.join(PEERS_DIR, 'passthrough.ts')],
      cwd: REPO_ROOT,
      env: peerEnv(ctx, port),
      ready: healthy(url),
    },
    ctx.stack.workDir,
  );
  await proc.start();
  const system = new PeerSystem('passthrough', url);
  return {
    system,
    killTarget: 'passthrough server',
    waitMs: 15_000,
    kill: () =>
      timedRestart(
        () => proc.kill9(),
        () => proc.start(),
      ),
    storage: async () => ({ app_statements: 0, rows_written: 0, temporal_history_events: 0 }),
    stop: async () => {
      system.close();
      await proc.stop();
    },
  };
}

function peerEnv(ctx: ScenarioContext, port: number): Record<string, string> {
  return {
    PEER_PORT: String(port),
    OPENAI_BASE_URL: `${ctx.stack.fakeUrl}/v1`,
    OPENAI_API_KEY: 'bench',
    PEER_MODEL: 'fake?ttft=0&tps=0&tokens=20',
    OPENAI_AGENTS_DISABLE_TRACING: '1',
  };
}

async function langgraphEntry(ctx: ScenarioContext, python: string): Promise<Entry> {
  const database = `peer_langgraph_${randomBytes(4).toString('hex')}`;
  const admin = new PgClient({ connectionString: ctx.stack.databaseUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE "${database}"`).finally(() => admin.end());
  const dbUrl = new URL(ctx.stack.databaseUrl);
  dbUrl.pathname = `/${database}`;
  const { port, url } = await loopbackPort();
  const proc = new PeerProcess(
    {
      name: 'langgraph',
      command: python,
      args: ['server.py'],
      cwd: path.join(PEERS_DIR, 'langgraph-postgres'),
      env: { ...peerEnv(ctx, port), PEER_DATABASE_URL: dbUrl.toString() },
      ready: healthy(url),
    },
    ctx.stack.workDir,
  );
  await proc.start();
  const system = new PeerSystem('langgraph', url);
  const probe = new PgProbe(dbUrl.toString(), database);
  await probe.connect();
  return {
    system,
    killTarget: 'LangGraph server',
    waitMs: 15_000,
    kill: () =>
      timedRestart(
        () => proc.kill9(),
        () => proc.start(),
      ),
    storage: async (turns) => {
      const results = await sequentialTurns(system, turns, INSTANT, () => probe.begin());
      await sleep(200);
      const delta = await probe.end();
      const ok = results.filter((r) => r.ok).length;
      return {
        turns: ok,
        app_statements: ratio(delta.app_statements, ok, 2),
        rows_written: ratio(rowsWritten(delta.top), ok, 2),
        write_transactions: ratio(delta.write_transactions, ok, 2),
        temporal_history_events: 0,
      };
    },
    stop: async () => {
      system.close();
      await probe.close();
      await proc.stop();
      const drop = new PgClient({ connectionString: ctx.stack.databaseUrl });
      await drop.connect();
      await drop.query(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`).finally(() => drop.end());
    },
  };
}

async function agentsEntry(ctx: ScenarioContext, python: string): Promise<Entry> {
  const client = ctx.stack.temporal!.client;
  const taskQueue = `agents-peer-${randomBytes(4).toString('hex')}`;
  const { port, url } = await loopbackPort();
  const env = { ...peerEnv(ctx, port), TEMPORAL_ADDRESS: ctx.stack.temporalAddress, PEER_TASK_QUEUE: taskQueue };
  const cwd = path.join(PEERS_DIR, 'agents-temporal');
  const worker = new PeerProcess(
    { name: 'agents-worker', command: python, args: ['worker.py'], cwd, env, ready: polling(client, taskQueue) },
    ctx.stack.workDir,
  );
  const server = new PeerProcess(
    { name: 'agents-server', command: python, args: ['server.py'], cwd, env, ready: healthy(url) },
    ctx.stack.workDir,
  );
  await Promise.all([worker.start(), server.start()]);
  const system = new PeerSystem('agents', url);
  return {
    system,
    killTarget: 'Agents SDK Temporal worker',
    // The plugin's model activity has a 60 s start-to-close timeout and no heartbeat: a retry starts after it.
    waitMs: 90_000,
    kill: () =>
      timedRestart(
        () => worker.kill9(),
        () => worker.start(),
      ),
    storage: async (turns) => {
      const results = await sequentialTurns(system, turns, INSTANT, async () => undefined);
      const events: number[] = [];
      for (const r of results) {
        const id = r.done?.workflow_id;
        if (typeof id !== 'string') continue;
        const h = await runHistory(client, id).catch(() => null);
        if (h) events.push(h.events);
      }
      return {
        turns: results.filter((r) => r.ok).length,
        app_statements: 0,
        rows_written: 0,
        temporal_history_events: events.length ? round(events.reduce((a, b) => a + b, 0) / events.length) : null,
      };
    },
    stop: async () => {
      system.close();
      await Promise.all([server.stop(), worker.stop()]);
    },
  };
}

export const s11: Scenario = {
  id: 'S11',
  title: 'Peers: chatd beside the alternatives',
  budgetS: 600,
  async run(ctx): Promise<ScenarioResult> {
    const result = newResult(this.id, this.title);
    const smoke = ctx.scale === 'smoke';
    const ttftTurns = smoke ? 3 : 20;
    const concurrency = smoke ? [1, 2] : [1, 8, 32];
    const windowS = smoke ? 2 : 8;
    const crashThreads = smoke ? 2 : 4;
    const storageTurns = smoke ? 2 : 10;
    result.runs = 1;
    const wanted = (process.env.BENCH_PEERS ?? 'chatd,passthrough,langgraph,agents').split(',');
    const entries: Entry[] = [];
    const tryStart = async (name: string, start: () => Promise<Entry>): Promise<void> => {
      try {
        entries.push(await start());
      } catch (err) {
        result.skipped[name] = `could not start: ${(err as Error).message.slice(0, 600)}`;
      }
    };
    entries.push(chatdEntry(ctx));
    if (wanted.includes('passthrough')) await tryStart('passthrough', () => passthroughEntry(ctx));
    const needPython = wanted.includes('langgraph') || wanted.includes('agents');
    const installed = needPython ? await installPythonPeers() : { error: 'not asked for (BENCH_PEERS)' };
    for (const name of ['langgraph', 'agents'] as const) {
      if (!wanted.includes(name)) continue;
      if ('error' in installed) result.skipped[name] = installed.error;
      else await tryStart(name, () => (name === 'langgraph' ? langgraphEntry : agentsEntry)(ctx, installed.python));
    }
    const live = entries;
    const figures: Record<string, SystemFigures> = {};
    try {
      ctx.say(`S11: added TTFT, ${ttftTurns} rounds over ${live.map((e) => e.system.name).join(', ')}`);
      const ttft = await measureTtftInterleaved(
        live.map((e) => e.system),
        INSTANT,
        ttftTurns,
        `${ctx.stack.fakeUrl}/v1`,
        ctx.api.agent,
        ctx.deadline,
      );
      for (const e of live) {
        const name = e.system.name;
        const f: SystemFigures = {};
        figures[name] = f;
        f.ttft = ttft[name] instanceof Error ? failed(result, `${name}.ttft`, ttft[name]) : ttft[name];
        f.throughput = [];
        for (const n of concurrency) {
          ctx.say(`S11 ${name}: closed loop, ${n} threads`);
          const loop = await closedLoopOf(e.system, n, INSTANT, windowS).catch((err: Error) =>
            failed(result, `${name}.throughput_${n}`, err),
          );
          if (loop) {
            const { latencies, ...rest } = loop;
            f.throughput.push({ ...rest, turnsPerS: round(loop.turnsPerS) ?? 0, latency_p50_ms: median(latencies) });
          }
        }
        ctx.say(`S11 ${name}: storage per turn`);
        f.storage = await e.storage(storageTurns).catch((err: Error) => failed(result, `${name}.storage`, err));
        ctx.say(`S11 ${name}: kill -9 the ${e.killTarget} mid-turn`);
        const crash = await measureCrash(e.system, {
          threads: crashThreads,
          knobs: PACED,
          fakeUrl: ctx.stack.fakeUrl,
          kill: e.kill,
          killAfterMs: 2000,
          waitMs: e.waitMs,
        }).catch((err: Error) => failed(result, `${name}.crash`, err));
        f.crash = crash ? { killed: e.killTarget, ...crash } : undefined;
        ctx.say(
          `S11 ${name}: added TTFT p50 ${f.ttft?.added_p50_ms} ms; ${f.throughput.map((t) => `${t.threads}→${t.turnsPerS}/s`).join(' ')}; ` +
            `crash completed ${crash?.completed}/${crash?.turns}, lost ${crash?.lost}, repeated ${crash?.repeated_llm_calls}`,
        );
      }
    } finally {
      for (const e of live) await e.stop().catch(() => undefined);
    }
    result.metrics = { knobs: { instant: INSTANT, paced: PACED }, systems: figures };
    result.headlines = headlinesOf(figures);
    result.notes = notesOf(figures);
    if (smoke) result.scaled_down.push('smoke: 3 TTFT turns, 2 s windows at 1 and 2 threads, 2 crash turns');
    return result;
  },
};

function failed(result: ScenarioResult, key: string, err: Error): undefined {
  result.skipped[key] = `failed: ${err.message.slice(0, 400)}`;
  return undefined;
}

function median(xs: number[]): number | null {
  if (!xs.length) return null;
  const s = [...xs].sort((a, b) => a - b);
  return round(s[Math.floor(s.length / 2)]!);
}

function notesOf(figures: Record<string, SystemFigures>): string[] {
  const notes = [
    'Every system streams from the same fake LLM with the same knobs; a thread starts with a warm-up turn. chatd turns are sent on a chat whose stream is open (as a UI does).',
    "The agents peer (OpenAI Agents SDK + temporalio.openai_agents plugin, Chat Completions) returns the whole model response from its activity: its first token arrives with its last (first_to_last_p50_ms ≈ 0), so its 'TTFT' is its full answer time. The plugin's experimental Runner.run_streamed path was not used, as the peer is measured as it ships by default.",
    'Crash: the agents peer as configured by default (model activity start-to-close 60 s, no heartbeat) retries the model call only after that timeout; LangGraph and the passthrough lose the turn with their server (nothing resumes it).',
  ];
  if (!figures.agents) notes.push('The agents peer did not run (see skipped).');
  return notes;
}
