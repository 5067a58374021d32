/**
 * S7, database cost per turn, from pg_stat_statements deltas: warm chats send follow-up turns one
 * at a time, each after the previous turn's workflow run closed (a plain turn, not one handed over
 * by continue-as-new), first with no tool call, then with one tool call per turn; the difference is
 * the cost of an extra tool step. Counts application statements, write transactions (commits),
 * explicit COMMITs, config reads, and bus NOTIFYs per turn, with the most frequent statements.
 * S3's mixed figures (closed loop, every N) are reported beside them.
 */
import { ChatDriver, waitRunClosed } from '../lib/chat-driver';
import type { PgDelta } from '../lib/pg-stats';
import { median, minus, ratio, sleep } from '../lib/stats';
import { atMost, newResult, type Scenario, type ScenarioContext, type ScenarioResult } from '../lib/scenario';
import { pgPerTurn, type ThroughputPoint } from './s3-throughput';

const runClosed = (ctx: ScenarioContext, chatId: string): Promise<void> =>
  waitRunClosed(ctx.stack.temporal!.client, chatId);

async function measure(
  ctx: ScenarioContext,
  tools: number,
  chats: number,
  turnsPerChat: number,
): Promise<{ delta: PgDelta; turns: number; errors: number }> {
  const knobs = tools
    ? { ttft: 0, tps: 0, tokens: 20, tools: 1, tool: 'list_templates' }
    : { ttft: 0, tps: 0, tokens: 20 };
  const modelConfigId = await ctx.api.modelConfig(knobs);
  const drivers = await Promise.all(
    Array.from({ length: chats }, async (_, i) => {
      const { driver, created } = await ChatDriver.create(ctx.api, ctx.pg, modelConfigId, `s7 chat ${i}`);
      await driver.finish(created, 0, 30_000);
      await runClosed(ctx, driver.chatId);
      return driver;
    }),
  );
  let turns = 0;
  let errors = 0;
  await ctx.pg.begin();
  try {
    await Promise.all(
      drivers.map(async (driver) => {
        for (let t = 0; t < turnsPerChat; t++) {
          const timing = await driver.send(`follow-up ${t}`, 30_000);
          if (timing.status === 'waiting') turns += 1;
          else errors += 1;
          await runClosed(ctx, driver.chatId);
        }
      }),
    );
  } finally {
    for (const d of drivers) d.close();
  }
  // Closing streams UNLISTENs; let that land inside the window, as it belongs to the turns.
  await sleep(200);
  const delta = await ctx.pg.end();
  return { delta, turns, errors };
}

export const s7: Scenario = {
  id: 'S7',
  title: 'Database cost per turn (pg_stat_statements deltas)',
  budgetS: 75,
  async run(ctx): Promise<ScenarioResult> {
    const result = newResult(this.id, this.title);
    const smoke = ctx.scale === 'smoke';
    const runs = smoke ? 1 : 3;
    const chats = smoke ? 1 : 4;
    const turnsPerChat = smoke ? 2 : 5;
    result.runs = runs;
    result.notes = [
      'Turns here are follow-ups on warm chats with an open stream, each sent after the previous run closed; ' +
        'SSE snapshot reads of the one open stream per chat are included (a UI holds one).',
    ];
    const per: Record<string, Array<Record<string, number | null>>> = { simple: [], tool: [] };
    const tops: Record<string, PgDelta['top']> = {};
    let errors = 0;
    for (let r = 0; r < runs && Date.now() < ctx.deadline; r++) {
      for (const tools of [0, 1]) {
        const m = await measure(ctx, tools, chats, turnsPerChat);
        errors += m.errors;
        const figures = pgPerTurn(m.delta, m.turns);
        per[tools ? 'tool' : 'simple']!.push(figures);
        tops[tools ? 'tool' : 'simple'] = m.delta.top.map(
          (t) => ({ ...t, calls_per_turn: ratio(t.calls, m.turns, 2) }) as PgDelta['top'][number],
        );
        ctx.say(
          `S7 run ${r + 1} tools=${tools}: ${figures.statements} statements/turn, ${figures.write_transactions} commits/turn`,
        );
      }
    }
    const med = (key: string, kind: 'simple' | 'tool'): number | null => median(per[kind]!.map((f) => f[key]));
    const keys = Object.keys(per.simple![0] ?? {});
    const simple = Object.fromEntries(keys.map((k) => [k, med(k, 'simple')]));
    const tool = Object.fromEntries(keys.map((k) => [k, med(k, 'tool')]));
    const extraToolStep = Object.fromEntries(keys.map((k) => [k, minus(tool[k], simple[k])]));
    const s3Points = (ctx.results.get('S3')?.metrics as { points?: ThroughputPoint[] } | undefined)?.points;
    result.metrics = {
      per_simple_turn: simple,
      per_tool_turn: tool,
      per_extra_tool_step: extraToolStep,
      top_statements_simple_turn: tops.simple,
      top_statements_tool_turn: tops.tool,
      errors,
      from_s3_closed_loop:
        s3Points?.map((p) => ({ chats: p.chats, tools: p.tools, pg_per_turn: p.pg_per_turn })) ?? null,
    };
    if (!s3Points) result.skipped['from_s3_closed_loop'] = 'S3 did not run in this invocation';
    result.headlines.push(
      {
        metric: 'app statements per simple turn',
        value: simple.statements ?? null,
        unit: 'stmts',
        baseline: { name: 'target', value: 8, unit: 'stmts' },
        ratio: ratio(simple.statements, 8),
        ratio_label: '÷ target (moonshot ≤ 5)',
        target: '≤ 8 statements',
        pass: atMost(simple.statements, 8),
      },
      {
        metric: 'commits (write transactions) per simple turn',
        value: simple.write_transactions ?? null,
        unit: 'commits',
        baseline: { name: 'explicit COMMITs', value: simple.explicit_commits ?? null, unit: '' },
        ratio: ratio(simple.write_transactions, 4),
        ratio_label: '÷ target (moonshot ≤ 3)',
        target: '≤ 4 commits',
        pass: atMost(simple.write_transactions, 4),
      },
      {
        metric: 'app statements per extra tool step',
        value: extraToolStep.statements ?? null,
        unit: 'stmts',
        baseline: { name: 'per simple turn', value: simple.statements ?? null, unit: 'stmts' },
        ratio: ratio(extraToolStep.statements, simple.statements),
        ratio_label: '÷ simple turn',
        target: 'moonshot ≤ 2 per extra tool step',
        pass: atMost(extraToolStep.statements, 2),
      },
      {
        metric: 'config reads per simple turn',
        value: simple.config_reads ?? null,
        unit: 'reads',
        baseline: { name: 'per simple turn statements', value: simple.statements ?? null, unit: 'stmts' },
        ratio: ratio(simple.config_reads, simple.statements),
        ratio_label: 'share of statements',
        target: 'moonshot 0',
        pass: atMost(simple.config_reads, 0),
      },
    );
    return result;
  },
};
