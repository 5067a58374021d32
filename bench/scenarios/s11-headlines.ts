/**
 * S11's summary rows: each metric of chatd beside each peer, as chatd ÷ peer with the peer as the
 * baseline (below 1 is chatd ahead for times and storage, above 1 for turns/s).
 */
import type { LoopResult } from '../lib/peer-driver';
import type { CrashFigures, TtftFigures } from '../lib/peer-measures';
import type { Headline } from '../lib/scenario';
import { ratio } from '../lib/stats';

export interface SystemFigures {
  ttft?: TtftFigures;
  throughput?: Array<Omit<LoopResult, 'latencies'> & { latency_p50_ms: number | null }>;
  storage?: Record<string, number | null>;
  crash?: CrashFigures & { killed: string };
}

const PEER_LABELS: Record<string, string> = {
  passthrough: 'passthrough (no store)',
  langgraph: 'LangGraph + PostgreSQL checkpointer',
  agents: 'OpenAI Agents SDK on Temporal',
};

function row(
  metric: string,
  unit: string,
  chatd: number | null | undefined,
  peerName: string,
  peer: number | null | undefined,
): Headline {
  return {
    metric,
    value: chatd ?? null,
    unit,
    baseline: { name: PEER_LABELS[peerName] ?? peerName, value: peer ?? null, unit },
    ratio: ratio(chatd, peer),
    ratio_label: `chatd ÷ ${peerName}`,
  };
}

/** Turns/s at `threads` concurrent threads, or null. */
function tps(f: SystemFigures | undefined, threads: number): number | null {
  return f?.throughput?.find((t) => t.threads === threads)?.turnsPerS ?? null;
}

/** The headline rows for every peer that ran beside chatd. */
export function headlinesOf(figures: Record<string, SystemFigures>): Headline[] {
  const chatd = figures.chatd;
  const out: Headline[] = [];
  if (!chatd) return out;
  const threadCounts = (chatd.throughput ?? []).map((t) => t.threads);
  for (const [peer, f] of Object.entries(figures)) {
    if (peer === 'chatd') continue;
    const note = peer === 'agents' ? ' (agents: first token = last, the whole answer)' : '';
    out.push(
      row(`vs ${peer}: added TTFT p50, fake TTFT 0${note}`, 'ms', chatd.ttft?.added_p50_ms, peer, f.ttft?.added_p50_ms),
      row(`vs ${peer}: added TTFT p99, fake TTFT 0`, 'ms', chatd.ttft?.added_p99_ms, peer, f.ttft?.added_p99_ms),
    );
    for (const n of threadCounts) {
      out.push(
        row(
          `vs ${peer}: closed-loop turns/s, ${n} thread${n === 1 ? '' : 's'}`,
          'turns/s',
          tps(chatd, n),
          peer,
          tps(f, n),
        ),
      );
    }
    const c = chatd.crash;
    const p = f.crash;
    out.push(
      row(
        `vs ${peer}: kill -9 mid-turn: answers lost of ${c?.turns ?? '?'} (killed: ${c?.killed ?? '?'}; ${p?.killed ?? '?'})`,
        'turns',
        c?.lost,
        peer,
        p?.lost,
      ),
      row(
        `vs ${peer}: kill -9 mid-turn: repeated LLM calls`,
        'calls',
        c?.repeated_llm_calls,
        peer,
        p?.repeated_llm_calls,
      ),
      row(`vs ${peer}: kill -9 mid-turn: time to resume, p50`, 'ms', c?.resume_ms.p50, peer, p?.resume_ms.p50),
    );
    if (peer === 'langgraph') {
      out.push(
        row(
          `vs ${peer}: PostgreSQL statements per turn`,
          'stmts',
          chatd.storage?.app_statements,
          peer,
          f.storage?.app_statements,
        ),
        row(
          `vs ${peer}: PostgreSQL rows written per turn`,
          'rows',
          chatd.storage?.rows_written,
          peer,
          f.storage?.rows_written,
        ),
      );
    } else if (peer === 'agents') {
      out.push(
        row(
          `vs ${peer}: Temporal history events per turn`,
          'events',
          chatd.storage?.temporal_history_events,
          peer,
          f.storage?.temporal_history_events,
        ),
      );
    } else {
      out.push(
        row(
          `vs ${peer}: PostgreSQL statements per turn (the passthrough stores nothing)`,
          'stmts',
          chatd.storage?.app_statements,
          peer,
          f.storage?.app_statements,
        ),
      );
    }
  }
  return out;
}
