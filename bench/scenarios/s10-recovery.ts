/**
 * S10, recovery. Part one: `kill -9` the worker while chats stream at 100 tokens/s and start a new
 * worker at once; per chat, the time until new tokens flow again, committed assistant messages lost
 * or duplicated (chat_messages of the turn), repeated LLM calls (the fake's requests), and whether
 * the text a client streamed matches what was committed. Part two: `kill -9` the API process that
 * holds the SSE clients (several per streaming chat), start it again on the same port, and let the
 * clients resume with Last-Event-ID; measure reconnection time and gaps (a client whose streamed
 * text at the `message` event differs from the committed message, or that never got the message).
 */
import { waitRunClosed } from '../lib/chat-driver';
import { fakeRequests, requestsOf, resetFake } from '../lib/fake-control';
import { frameJson, isAssistantMessage, isStatus, SseStream, stampsIn, type Frame } from '../lib/sse';
import { median, nowMs, ratio, round, sleep, summarize } from '../lib/stats';
import { atMost, newResult, type Scenario, type ScenarioContext, type ScenarioResult } from '../lib/scenario';

/** The activity heartbeat timeout of model steps (workflows/activity-proxies.ts, llmOptions). */
const HEARTBEAT_TIMEOUT_S = 10;
const TOKENS = 600;

/** An SSE client that reconnects after a dropped connection with Last-Event-ID, like EventSource. */
class ResumingClient {
  /** Frames of every connection, each tagged with its connection number. */
  readonly frames: Array<Frame & { conn: number }> = [];
  connections = 0;
  /** Arrival of the first frame of each connection after the first. */
  readonly reconnectedAt: number[] = [];
  private current: SseStream | null = null;
  private closed = false;
  readonly done: Promise<void>;

  constructor(
    private readonly url: () => string,
    private readonly token: string,
  ) {
    this.done = this.loop();
  }

  get lastEventId(): string | undefined {
    for (let i = this.frames.length - 1; i >= 0; i--) if (this.frames[i]!.id) return this.frames[i]!.id;
    return undefined;
  }

  close(): void {
    this.closed = true;
    this.current?.close();
  }

  private async loop(): Promise<void> {
    while (!this.closed) {
      const conn = ++this.connections;
      let first = true;
      this.current = new SseStream(this.url(), this.token, {
        lastEventId: this.lastEventId,
        keepFrames: false,
        onFrame: (f) => {
          if (first && conn > 1) this.reconnectedAt.push(f.at);
          first = false;
          this.frames.push({ ...f, conn });
        },
      });
      await this.current.done;
      if (!this.closed) await sleep(100);
    }
  }

  /** Resolves when a frame after index `from` matches. */
  async waitFor(predicate: (f: Frame) => boolean, timeoutMs: number, from = 0): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (this.frames.slice(from).some(predicate)) return true;
      await sleep(50);
    }
    return false;
  }
}

/** How a client's streamed text differs from the committed one, token by token (tokens carry unique stamps). */
interface TextDiff {
  missing: number;
  duplicated: number;
  extra: number;
}

function diffTokens(held: string, committed: string): TextDiff {
  const h = stampsIn(held);
  const c = new Set(stampsIn(committed));
  const seen = new Set<number>();
  let duplicated = 0;
  let extra = 0;
  for (const stamp of h) {
    if (seen.has(stamp)) duplicated += 1;
    else if (!c.has(stamp)) extra += 1;
    seen.add(stamp);
  }
  let missing = 0;
  for (const stamp of c) if (!seen.has(stamp)) missing += 1;
  return { missing, duplicated, extra };
}

/** Adds up the differences of several clients. */
function addDiffs(diffs: TextDiff[]): TextDiff & { clients: number } {
  return diffs.reduce<TextDiff & { clients: number }>(
    (acc, d) => ({
      clients: acc.clients + 1,
      missing: acc.missing + d.missing,
      duplicated: acc.duplicated + d.duplicated,
      extra: acc.extra + d.extra,
    }),
    { clients: 0, missing: 0, duplicated: 0, extra: 0 },
  );
}

/** Text the client would show for the assistant message: parts since the last (re)connect or retry. */
function heldTextAtMessage(frames: Array<Frame & { conn: number }>): {
  text: string | null;
  committed: string | null;
} {
  let held = '';
  let conn = -1;
  for (const f of frames) {
    if (f.conn !== conn) {
      conn = f.conn;
      held = ''; // README: on a reconnect, drop the partial you held; the snapshot re-sends it.
    }
    if (f.event === 'retry') held = '';
    if (f.event === 'message_part') {
      const part = frameJson(f).part as { type?: string; text?: string };
      if (part.type === 'text' && part.text) held += part.text;
    }
    if (isAssistantMessage(f)) {
      const content = (frameJson(f).message.content as Array<{ type: string; text?: string }>)
        .filter((p) => p.type === 'text')
        .map((p) => p.text ?? '')
        .join('');
      return { text: held, committed: content };
    }
  }
  return { text: null, committed: null };
}

/** Warm chats: created, first turn and its title done, run closed. */
async function warmChats(ctx: ScenarioContext, n: number, modelConfigId: string): Promise<string[]> {
  const ids = await Promise.all(
    Array.from({ length: n }, async (_, i) => (await ctx.api.createChat(`s10 chat ${i}`, modelConfigId)).id),
  );
  await sleep((TOKENS / 100) * 1000);
  await Promise.all(ids.map((id) => waitRunClosed(ctx.stack.temporal!.client, id, 20_000)));
  return ids;
}

async function workerKill(ctx: ScenarioContext, chats: number, modelConfigId: string) {
  const ids = await warmChats(ctx, chats, modelConfigId);
  await resetFake(ctx.stack.fakeUrl);
  const streams = ids.map((id) => new SseStream(ctx.api.streamUrl(id), ctx.api.token));
  await Promise.all(streams.map((s) => s.waitFor((f) => f.event === 'queue_update', 30_000).catch(() => null)));
  const from = streams.map((s) => s.frames.length);
  const turnOf = new Map<string, number>();
  for (const id of ids) {
    await ctx.api.sendMessage(id, 'a long answer, please');
    const [row] = await ctx.pg.query<{ turn: number }>('SELECT turn FROM chats WHERE id = $1', [id]);
    turnOf.set(id, row!.turn);
  }
  // Let every chat stream about a second.
  await Promise.all(
    streams.map((s, i) =>
      s.waitFor((f) => f.event === 'message_part' && stampsIn(f.data).length > 0, 20_000, from[i]).catch(() => null),
    ),
  );
  await sleep(1000);
  await ctx.stack.worker!.kill9();
  // After the exit: a token stamped later than this can only come from the retried step.
  const killedAt = nowMs();
  await ctx.stack.startWorker();
  const workerStartS = (nowMs() - killedAt) / 1000;
  const ended = await Promise.all(
    streams.map((s, i) =>
      s.waitFor((f) => isStatus(f, 'waiting') || isStatus(f, 'error'), 90_000, from[i]).catch(() => null),
    ),
  );
  await sleep(500);
  for (const s of streams) s.close();

  const resume: number[] = [];
  let neverResumed = 0;
  let textMismatch = 0;
  const diffs: TextDiff[] = [];
  for (const [i, s] of streams.entries()) {
    const after = s.frames
      .slice(from[i])
      .find((f) => f.event === 'message_part' && stampsIn(f.data).some((stamp) => stamp > killedAt));
    if (after) resume.push(after.at - killedAt);
    else neverResumed += 1;
    const view = heldTextAtMessage(s.frames.slice(from[i]).map((f) => ({ ...f, conn: 1 })));
    if (view.text === null || view.text !== view.committed) {
      textMismatch += 1;
      if (view.text !== null) diffs.push(diffTokens(view.text, view.committed ?? ''));
    }
  }
  const requests = await fakeRequests(ctx.stack.fakeUrl);
  let lost = 0;
  let duplicated = 0;
  let repeatedCalls = 0;
  for (const id of ids) {
    const [row] = await ctx.pg.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM chat_messages WHERE chat_id = $1 AND turn = $2 AND role = 'assistant' AND NOT deleted",
      [id, turnOf.get(id)],
    );
    const n = row?.n ?? 0;
    if (n === 0) lost += 1;
    if (n > 1) duplicated += 1;
    repeatedCalls += Math.max(0, requestsOf(requests, id).length - 1);
  }
  return {
    chats,
    resume_ms: summarize(resume),
    never_resumed: neverResumed,
    turns_not_finished: ended.filter((e) => e === null).length,
    worker_start_s: round(workerStartS),
    lost_messages: lost,
    duplicated_messages: duplicated,
    repeated_llm_calls: repeatedCalls,
    clients_with_text_mismatch: textMismatch,
    mismatched_tokens: addDiffs(diffs),
  };
}

async function apiKill(ctx: ScenarioContext, chats: number, perChat: number, modelConfigId: string) {
  const ids = await warmChats(ctx, chats, modelConfigId);
  const clients = ids.flatMap((id) =>
    Array.from({ length: perChat }, () => new ResumingClient(() => ctx.api.streamUrl(id), ctx.api.token)),
  );
  await Promise.all(clients.map((c) => c.waitFor((f) => f.event === 'queue_update', 30_000)));
  const from = clients.map((c) => c.frames.length);
  for (const id of ids) await ctx.api.sendMessage(id, 'a long answer, please');
  await Promise.all(clients.map((c, i) => c.waitFor((f) => f.event === 'message_part', 20_000, from[i])));
  await sleep(1000);
  const old = ctx.stack.api;
  await old.kill9();
  const killedAt = nowMs();
  const api = await ctx.stack.startApi(old.port);
  ctx.stack.addApi(api, 0);
  const apiStartS = (nowMs() - killedAt) / 1000;
  const done = await Promise.all(
    clients.map((c, i) => c.waitFor((f) => isStatus(f, 'waiting') && f.at > killedAt, 60_000, from[i])),
  );
  await sleep(500);
  for (const c of clients) c.close();

  const reconnect: number[] = [];
  let noMessage = 0;
  let textMismatch = 0;
  let duplicateMessages = 0;
  const diffs: TextDiff[] = [];
  const reconnectsPerClient: number[] = [];
  for (const [i, c] of clients.entries()) {
    reconnectsPerClient.push(c.connections - 1);
    const frames = c.frames.slice(from[i]);
    const firstAfter = c.reconnectedAt.find((t) => t > killedAt);
    if (firstAfter !== undefined) reconnect.push(firstAfter - killedAt);
    const view = heldTextAtMessage(frames);
    if (view.text === null) noMessage += 1;
    else if (view.text !== view.committed) {
      textMismatch += 1;
      diffs.push(diffTokens(view.text, view.committed ?? ''));
    }
    const messageIds = frames.filter((f) => f.event === 'message').map((f) => frameJson(f).message.id as number);
    duplicateMessages += messageIds.length - new Set(messageIds).size;
  }
  return {
    clients: clients.length,
    api_start_s: round(apiStartS),
    reconnect_ms: summarize(reconnect),
    clients_not_reconnected: clients.length - reconnect.length,
    clients_without_final_status: done.filter((d) => !d).length,
    clients_missing_message: noMessage,
    clients_with_text_gap: textMismatch,
    gap_tokens: addDiffs(diffs),
    connections_per_client_p50: median(reconnectsPerClient.map((n) => n + 1)),
    duplicate_message_events: duplicateMessages,
  };
}

export const s10: Scenario = {
  id: 'S10',
  title: 'Recovery: kill -9 the worker mid-stream; kill -9 the API holding SSE clients',
  budgetS: 200,
  async run(ctx): Promise<ScenarioResult> {
    const result = newResult(this.id, this.title);
    const smoke = ctx.scale === 'smoke';
    const runs = smoke ? 1 : 2;
    const chats = smoke ? 3 : 20;
    const apiChats = smoke ? 2 : 20;
    const perChat = smoke ? 2 : 5;
    result.runs = runs;
    result.scaled_down.push(
      `${runs} worker-kill runs of ${chats} streaming turns and one API kill with ${apiChats * perChat} clients ` +
        `(each run waits out the ${HEARTBEAT_TIMEOUT_S} s heartbeat timeout; three would not fit the budget)`,
    );
    const modelConfigId = await ctx.api.modelConfig({ ttft: 0, tps: 100, tokens: TOKENS, ts: true });
    const workerRuns: Array<Awaited<ReturnType<typeof workerKill>>> = [];
    for (let r = 0; r < runs && (r === 0 || Date.now() < ctx.deadline - 60_000); r++) {
      const run = await workerKill(ctx, chats, modelConfigId);
      workerRuns.push(run);
      ctx.say(
        `S10 worker kill ${r + 1}: resume p50 ${run.resume_ms.p50} ms, p99 ${run.resume_ms.p99} ms; lost ${run.lost_messages}, duplicated ${run.duplicated_messages}`,
      );
    }
    const apiRun = Date.now() < ctx.deadline - 20_000 ? await apiKill(ctx, apiChats, perChat, modelConfigId) : null;
    if (apiRun) {
      ctx.say(
        `S10 api kill: reconnect p99 ${apiRun.reconnect_ms.p99} ms, ${apiRun.clients_with_text_gap} clients with gaps`,
      );
    } else {
      result.skipped['api_kill'] = 'time budget used up by the worker-kill runs';
    }
    const med = (f: (r: (typeof workerRuns)[number]) => number | null | undefined): number | null =>
      median(workerRuns.map(f));
    const sum = (f: (r: (typeof workerRuns)[number]) => number): number => workerRuns.reduce((n, r) => n + f(r), 0);
    const m = {
      heartbeat_timeout_s: HEARTBEAT_TIMEOUT_S,
      worker_kill: {
        resume_p50_ms: med((r) => r.resume_ms.p50),
        resume_p99_ms: med((r) => r.resume_ms.p99),
        never_resumed: sum((r) => r.never_resumed),
        turns_not_finished: sum((r) => r.turns_not_finished),
        worker_start_s: med((r) => r.worker_start_s),
        lost_messages: sum((r) => r.lost_messages),
        duplicated_messages: sum((r) => r.duplicated_messages),
        repeated_llm_calls: sum((r) => r.repeated_llm_calls),
        clients_with_text_mismatch: sum((r) => r.clients_with_text_mismatch),
        mismatched_tokens: {
          missing: sum((r) => r.mismatched_tokens.missing),
          duplicated: sum((r) => r.mismatched_tokens.duplicated),
          extra: sum((r) => r.mismatched_tokens.extra),
        },
        runs: workerRuns,
      },
      api_kill: apiRun,
    };
    result.metrics = m;
    const resumeS = m.worker_kill.resume_p99_ms === null ? null : m.worker_kill.resume_p99_ms / 1000;
    result.headlines.push(
      {
        metric: `worker kill: time to resume streaming, p99 (p50 ${m.worker_kill.resume_p50_ms} ms; new worker ready in ${m.worker_kill.worker_start_s} s)`,
        value: round(resumeS),
        unit: 's',
        baseline: { name: 'heartbeat timeout', value: HEARTBEAT_TIMEOUT_S, unit: 's' },
        ratio: ratio(resumeS, HEARTBEAT_TIMEOUT_S),
        ratio_label: '÷ heartbeat timeout',
        target: `≤ heartbeat timeout + 5 s = ${HEARTBEAT_TIMEOUT_S + 5} s (moonshot + 1 s)`,
        pass: atMost(resumeS, HEARTBEAT_TIMEOUT_S + 5),
      },
      {
        metric: `worker kill: committed messages lost / duplicated (${sum((r) => r.chats)} turns)`,
        value: m.worker_kill.lost_messages + m.worker_kill.duplicated_messages,
        unit: 'messages',
        baseline: { name: 'repeated LLM calls', value: m.worker_kill.repeated_llm_calls, unit: '' },
        target: '0 lost (moonshot: 0 lost or duplicated)',
        pass: m.worker_kill.lost_messages === 0,
      },
      {
        metric: 'worker kill: clients whose streamed text ≠ the committed message',
        value: m.worker_kill.clients_with_text_mismatch,
        unit: 'clients',
        baseline: { name: 'turns', value: sum((r) => r.chats), unit: '' },
        ratio: ratio(
          m.worker_kill.clients_with_text_mismatch,
          sum((r) => r.chats),
        ),
        ratio_label: 'share of clients',
        target: 'moonshot 0 gaps',
        pass: m.worker_kill.clients_with_text_mismatch === 0,
      },
    );
    if (apiRun) {
      result.headlines.push(
        {
          metric: `API kill: reconnect after kill -9, p99 (API restart ${apiRun.api_start_s} s)`,
          value: apiRun.reconnect_ms.p99,
          unit: 'ms',
          baseline: {
            name: 'API process start',
            value: apiRun.api_start_s === null ? null : apiRun.api_start_s * 1000,
            unit: 'ms',
          },
          ratio: ratio(apiRun.reconnect_ms.p99, apiRun.api_start_s === null ? null : apiRun.api_start_s * 1000),
          ratio_label: 'reconnect ÷ API start',
        },
        {
          metric: `API kill: clients with SSE gaps (text ≠ committed, or message missing), of ${apiRun.clients}`,
          value: apiRun.clients_with_text_gap + apiRun.clients_missing_message,
          unit: 'clients',
          baseline: { name: 'duplicate message events', value: apiRun.duplicate_message_events, unit: '' },
          target: 'moonshot 0 gaps',
          pass: apiRun.clients_with_text_gap + apiRun.clients_missing_message === 0,
        },
      );
    }
    return result;
  },
};
