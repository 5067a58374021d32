/**
 * What scenario S11 measures on each system through the one TurnSystem interface: added time to
 * first token (client minus the same client streaming from the fake directly, as S2), closed-loop
 * turns/s (as S3), a kill -9 mid-turn (as S10: turns completed, answers lost, LLM calls repeated,
 * time to resume), and the pure helpers that turn raw records into those figures.
 */
import type * as http from 'node:http';
import { knobModel, type Knobs } from './api';
import { streamDirect } from './fake-direct';
import { fakeRequests } from './fake-control';
import type { StatementRow } from './pg-stats';
import type { Delta, TurnResult, TurnSystem } from './peer-driver';
import { stampsIn } from './sse';
import { minus, nowMs, round, sleep, summarize, type Summary } from './stats';

export interface TtftFigures {
  turns: number;
  errors: number;
  client_ttft_ms: Summary;
  direct_ttft_ms: Summary;
  added_p50_ms: number | null;
  added_p99_ms: number | null;
  /** Median of (total − first token): 0 means the first token came with the last. */
  first_to_last_p50_ms: number | null;
}

/**
 * S2-style, interleaved: each system gets a warm thread (and two unmeasured turns); then, round
 * after round, every system in turn runs one direct stream from the fake and one measured turn, so
 * background load on the shared machine falls on all systems alike. At least 3 rounds even past
 * the deadline, so every system has a figure. Returns figures by system name (errors thrown while
 * warming a system are returned as its error instead).
 */
export async function measureTtftInterleaved(
  systems: TurnSystem[],
  knobs: Knobs,
  turns: number,
  fakeOpenAiUrl: string,
  agent: http.Agent,
  deadline: number,
): Promise<Record<string, TtftFigures | Error>> {
  const live: Array<{ system: TurnSystem; thread: string }> = [];
  const out: Record<string, TtftFigures | Error> = {};
  for (const system of systems) {
    try {
      const thread = await system.newThread(knobs);
      for (let i = 0; i < 2; i++) {
        await system.settle(thread);
        await system.turn(thread, `warm ${i}`, knobs, 30_000);
      }
      live.push({ system, thread });
    } catch (err) {
      out[system.name] = err as Error;
    }
  }
  const samples = live.map(() => ({
    client: [] as number[],
    direct: [] as number[],
    spread: [] as number[],
    errors: 0,
  }));
  for (let i = 0; i < turns && (i < 3 || Date.now() < deadline); i++) {
    for (const [k, { system, thread }] of live.entries()) {
      const sample = samples[k]!;
      await system.settle(thread);
      const d = await streamDirect(fakeOpenAiUrl, knobModel(knobs), agent);
      if (d.ttftMs !== null) sample.direct.push(d.ttftMs);
      const r = await system.turn(thread, `turn ${i}`, knobs, 30_000);
      if (!r.ok || r.ttftMs === null) {
        sample.errors += 1;
        continue;
      }
      sample.client.push(r.ttftMs);
      sample.spread.push(r.totalMs - r.ttftMs);
    }
  }
  for (const [k, { system }] of live.entries()) {
    const sample = samples[k]!;
    const c = summarize(sample.client);
    const dd = summarize(sample.direct);
    out[system.name] = {
      turns: sample.client.length,
      errors: sample.errors,
      client_ttft_ms: c,
      direct_ttft_ms: dd,
      added_p50_ms: minus(c.p50, dd.p50),
      added_p99_ms: minus(c.p99, dd.p99),
      first_to_last_p50_ms: summarize(sample.spread).p50,
    };
  }
  return out;
}

/** Per crash-test turn: what the client got and what the system kept. */
export interface CrashTurn {
  ok: boolean;
  /** Full answer at the client. */
  completed: boolean;
  /** Answers in the store for this turn (stored after − before). */
  stored: number;
  llmCalls: number;
  /** Kill → first text at the client produced after the kill (stamped later than it), ms. */
  resumeMs: number | null;
  error?: string;
}

export interface CrashFigures {
  turns: number;
  completed: number;
  /** No full answer at the client and nothing stored. */
  lost: number;
  /** LLM calls beyond one per turn (from the fake's request record). */
  repeated_llm_calls: number;
  resume_ms: Summary;
  never_resumed: number;
  restart_s: number | null;
  errors: Record<string, number>;
}

/** Kill → first delta that carries a token stamped after the kill (null if none). */
export function resumeAfter(deltas: Delta[], killedAt: number): number | null {
  for (const d of deltas) {
    if (d.at <= killedAt) continue;
    if (stampsIn(d.text).some((s) => s > killedAt)) return d.at - killedAt;
  }
  return null;
}

/** Adds up the crash test's turns. */
export function crashFigures(turns: CrashTurn[], restartS: number | null): CrashFigures {
  const errors: Record<string, number> = {};
  for (const t of turns) if (t.error) errors[t.error.slice(0, 80)] = (errors[t.error.slice(0, 80)] ?? 0) + 1;
  const resume = turns.map((t) => t.resumeMs).filter((v): v is number => v !== null);
  return {
    turns: turns.length,
    completed: turns.filter((t) => t.completed).length,
    lost: turns.filter((t) => !t.completed && t.stored === 0).length,
    repeated_llm_calls: turns.reduce((n, t) => n + Math.max(0, t.llmCalls - 1), 0),
    resume_ms: summarize(resume),
    never_resumed: turns.length - resume.length,
    restart_s: round(restartS),
    errors,
  };
}

/**
 * S10-style: `threads` warm threads start a paced turn each; `killAfterMs` later (mid-answer),
 * `kill` kills -9 and restarts the process that runs the model call. Waits for every turn up to
 * `waitMs` after the kill; then compares what each client got, what the system stored for the turn,
 * and how many provider requests the turn made.
 */
export async function measureCrash(
  system: TurnSystem,
  options: {
    threads: number;
    knobs: Knobs;
    fakeUrl: string;
    /** kill -9 and restart; resolves with the restart's duration, s. */
    kill: () => Promise<number>;
    killAfterMs: number;
    waitMs: number;
  },
): Promise<CrashFigures & { per_turn: CrashTurn[] }> {
  const ids = await Promise.all(Array.from({ length: options.threads }, () => system.newThread(options.knobs)));
  await Promise.all(ids.map((id) => system.settle(id)));
  const before = await Promise.all(ids.map((id) => system.storedAnswers(id)));
  const startedAt = Date.now();
  const running = ids.map((id) => system.turn(id, 'a long answer, please', options.knobs, options.waitMs + 30_000));
  // The same moment for every system (a peer that streams nothing until the end shows no progress to wait for).
  await sleep(options.killAfterMs);
  const killedAt = nowMs();
  const restartS = await options.kill();
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<TurnResult>((resolve) => {
    timer = setTimeout(
      () =>
        resolve({
          ok: false,
          ttftMs: null,
          totalMs: options.waitMs,
          text: '',
          deltas: [],
          error: 'no answer within the wait',
          sentAt: 0,
        }),
      options.waitMs,
    );
  });
  const results: TurnResult[] = await Promise.all(running.map((p) => Promise.race([p, expired])));
  clearTimeout(timer);
  await Promise.all(ids.map((id) => system.settle(id)));
  const after = await Promise.all(ids.map((id) => system.storedAnswers(id).catch(() => 0)));
  const requests = (await fakeRequests(options.fakeUrl)).filter((r) => r.receivedAt >= startedAt);
  const perTurn: CrashTurn[] = ids.map((id, i) => {
    const r = results[i]!;
    const stamps = stampsIn(r.text);
    return {
      ok: r.ok,
      completed: r.ok && stamps.length >= Number(options.knobs.tokens ?? 0),
      stored: Math.max(0, after[i]! - before[i]!),
      llmCalls: requests.filter((q) => q.chatId === id).length,
      resumeMs: resumeAfter(r.deltas, killedAt),
      ...(r.error ? { error: r.error } : {}),
    };
  });
  return { ...crashFigures(perTurn, restartS), per_turn: perTurn };
}

/** Rows written by a window's statements (inserts, updates, deletes; `top` holds the busiest 25). */
export function rowsWritten(top: StatementRow[]): number {
  let rows = 0;
  for (const s of top) {
    const q = s.query.trimStart().toLowerCase();
    const writes =
      /^(insert|update|delete|merge)\b/.test(q) ||
      (/^with\b/.test(q) && /\b(insert\s+into|delete\s+from|update\s+"?\w+"?\s+set)\b/.test(q));
    if (writes) rows += s.rows;
  }
  return rows;
}
