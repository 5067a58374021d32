/**
 * The pure parts of bench scenario S11 (README "Peers"): parsing the peers' SSE protocol, the
 * crash test's figures, rows written from pg_stat_statements rows, and the chatd ÷ peer headlines.
 */
import { parsePeerFrames } from '../../../bench/lib/peer-driver';
import { crashFigures, resumeAfter, rowsWritten, type CrashTurn } from '../../../bench/lib/peer-measures';
import { headlinesOf, type SystemFigures } from '../../../bench/scenarios/s11-headlines';

describe('parsePeerFrames', () => {
  it('returns complete data frames and keeps an unfinished one for the next chunk', () => {
    const first = parsePeerFrames(
      'data: {"type":"delta","text":"Hel"}\n\ndata: {"type":"delta","text":"lo"}\n\ndata: {"ty',
    );
    expect(first.frames).toEqual([
      { type: 'delta', text: 'Hel' },
      { type: 'delta', text: 'lo' },
    ]);
    const second = parsePeerFrames(`${first.rest}pe":"done","text":"Hello","workflow_id":"w1"}\r\n\r\n`);
    expect(second.frames).toEqual([{ type: 'done', text: 'Hello', workflow_id: 'w1' }]);
    expect(second.rest).toBe('');
  });

  it('ignores comments, other fields and unknown frame types', () => {
    const { frames } = parsePeerFrames(
      ': ping\n\nevent: x\ndata: {"type":"other"}\n\ndata: {"type":"error","message":"boom"}\n\n',
    );
    expect(frames).toEqual([{ type: 'error', message: 'boom' }]);
  });
});

describe('resumeAfter', () => {
  const killedAt = 1_700_000_000_000;
  it('is the time from the kill to the first text stamped after it', () => {
    const before = `@${killedAt - 500}.000 a `;
    const after = `@${killedAt + 2000}.000 b `;
    const deltas = [
      { at: killedAt - 400, text: before },
      // Arrives after the kill but was produced before it (buffered): not a resume.
      { at: killedAt + 10, text: before },
      { at: killedAt + 2500, text: after },
    ];
    expect(resumeAfter(deltas, killedAt)).toBe(2500);
  });

  it('is null when nothing produced after the kill arrived', () => {
    expect(resumeAfter([{ at: killedAt - 1, text: `@${killedAt - 5}.000 x ` }], killedAt)).toBeNull();
  });
});

describe('crashFigures', () => {
  it('counts completed, lost (no answer and nothing stored) and repeated calls', () => {
    const turns: CrashTurn[] = [
      { ok: true, completed: true, stored: 1, llmCalls: 2, resumeMs: 10_000 },
      { ok: false, completed: false, stored: 1, llmCalls: 1, resumeMs: null, error: 'aborted' },
      { ok: false, completed: false, stored: 0, llmCalls: 1, resumeMs: null, error: 'aborted' },
    ];
    const f = crashFigures(turns, 4.567);
    expect(f).toMatchObject({
      turns: 3,
      completed: 1,
      lost: 1,
      repeated_llm_calls: 1,
      never_resumed: 2,
      restart_s: 4.57,
    });
    expect(f.resume_ms.p50).toBe(10_000);
    expect(f.errors).toEqual({ aborted: 2 });
  });
});

describe('rowsWritten', () => {
  it('adds the rows of inserts, updates, deletes and writing CTEs, not of reads', () => {
    const row = (query: string, rows: number) => ({ query, calls: 1, rows, total_ms: 0 });
    expect(
      rowsWritten([
        row('INSERT INTO checkpoints (a) VALUES ($1)', 2),
        row('update chats set status = $1', 1),
        row('DELETE FROM x WHERE id = $1', 3),
        row('WITH moved AS (DELETE FROM queue RETURNING *) SELECT * FROM moved', 4),
        row('SELECT * FROM checkpoints', 50),
        row('WITH a AS (SELECT 1) SELECT * FROM a', 7),
      ]),
    ).toBe(10);
  });
});

describe('headlinesOf', () => {
  const base = (over: Partial<SystemFigures>): SystemFigures => ({
    ttft: {
      turns: 20,
      errors: 0,
      client_ttft_ms: { n: 20, p50: 50, p90: 60, p99: 70, mean: 50, min: 40, max: 70 },
      direct_ttft_ms: { n: 20, p50: 2, p90: 3, p99: 4, mean: 2, min: 1, max: 4 },
      added_p50_ms: 48,
      added_p99_ms: 66,
      first_to_last_p50_ms: 10,
    },
    throughput: [{ threads: 1, turns: 30, errors: 0, seconds: 10, turnsPerS: 3, latency_p50_ms: 300 }],
    storage: { app_statements: 12, rows_written: 5, temporal_history_events: 20 },
    ...over,
  });

  it('puts chatd as the value and the peer as the baseline, with chatd ÷ peer', () => {
    const figures: Record<string, SystemFigures> = {
      chatd: base({}),
      langgraph: base({
        ttft: { ...base({}).ttft!, added_p50_ms: 12, added_p99_ms: 33 },
        throughput: [{ threads: 1, turns: 60, errors: 0, seconds: 10, turnsPerS: 6, latency_p50_ms: 100 }],
        storage: { app_statements: 10, rows_written: 8 },
      }),
    };
    const rows = headlinesOf(figures);
    const p50 = rows.find((h) => h.metric.startsWith('vs langgraph: added TTFT p50'))!;
    expect(p50.value).toBe(48);
    expect(p50.baseline?.value).toBe(12);
    expect(p50.ratio).toBe(4);
    expect(rows.find((h) => h.metric === 'vs langgraph: closed-loop turns/s, 1 thread')?.ratio).toBe(0.5);
    expect(rows.find((h) => h.metric === 'vs langgraph: PostgreSQL statements per turn')?.ratio).toBe(1.2);
    expect(rows.every((h) => h.ratio_label === 'chatd ÷ langgraph')).toBe(true);
  });

  it('leaves the ratio empty when the peer figure is 0 or missing', () => {
    const rows = headlinesOf({
      chatd: base({}),
      passthrough: base({ storage: { app_statements: 0 }, crash: undefined }),
    });
    const storage = rows.find((h) => h.metric.startsWith('vs passthrough: PostgreSQL statements'))!;
    expect(storage.value).toBe(12);
    expect(storage.ratio).toBeNull();
    expect(rows.find((h) => h.metric.startsWith('vs passthrough: kill -9 mid-turn: answers lost'))?.ratio).toBeNull();
  });

  it('has no rows without chatd', () => {
    expect(headlinesOf({ agents: base({}) })).toEqual([]);
  });
});
