/**
 * `npm run bench [-- S2 S5 …] [--out DIR] [--smoke] [--keep] [--max-minutes N]`: starts the real
 * stack on loopback (PostgreSQL, the Temporal dev server, the fake LLM, chatd's api and worker as
 * separate processes),
 * runs the chosen scenarios (default: all of S1–S10, each bounded in count and time), writes
 * `<out>/<scenario>.json` after each one and `<out>/SUMMARY.md` at the end, and stops everything.
 * `runBench()` is the same for callers in code (the smoke test uses a temp dir and the test run's
 * PostgreSQL and Temporal).
 */
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { ChatdApi } from './lib/api';
import { resetFake } from './lib/fake-control';
import { PgProbe } from './lib/pg-stats';
import { ProcessMeter } from './lib/proc';
import { readResults, writeResult, writeSummary } from './lib/report';
import { newResult, type Scale, type Scenario, type ScenarioContext, type ScenarioResult } from './lib/scenario';
import { BenchStack } from './lib/stack';
import { installQuietRuntime } from './floor/worker';
import { s1 } from './scenarios/s1-temporal-floor';
import { s10 } from './scenarios/s10-recovery';
import { s11 } from './scenarios/s11-peers';
import { s12 } from './scenarios/s12-scale-out';
import { s2 } from './scenarios/s2-added-ttft';
import { s3 } from './scenarios/s3-throughput';
import { s4 } from './scenarios/s4-storm';
import { s5 } from './scenarios/s5-token-passthrough';
import { s6 } from './scenarios/s6-fanout';
import { s7 } from './scenarios/s7-db-cost';
import { s8 } from './scenarios/s8-memory';
import { s9 } from './scenarios/s9-interrupt';

/** Every scenario in the order a full run takes them (destructive ones last). */
export function allScenarios(): Scenario[] {
  return [s1, s3, s7, s2, s5, s6, s9, s4, s8, s10, s11, s12];
}

export interface BenchOptions {
  /** Scenario ids (default: all). */
  scenarios?: string[];
  outDir?: string;
  scale?: Scale;
  /** Reuse a PostgreSQL server (a fresh database is created on it) instead of starting one. */
  postgresUrl?: string;
  /** Reuse a Temporal frontend instead of starting a dev server. */
  temporalAddress?: string;
  say?: (line: string) => void;
  /** Keep the stack's temp dir (logs) after the run. */
  keepWorkDir?: boolean;
  /** Wall-clock limit of the whole suite; scenarios left when it is reached are recorded as skipped. */
  maxMinutes?: number;
}

const DEFAULT_OUT = path.join(__dirname, 'results');

export async function runBench(options: BenchOptions = {}): Promise<Map<string, ScenarioResult>> {
  const say = options.say ?? ((line: string) => process.stderr.write(`[bench] ${line}\n`));
  const outDir = path.resolve(options.outDir ?? DEFAULT_OUT);
  const scale = options.scale ?? 'full';
  const catalogue = allScenarios();
  const wanted = options.scenarios?.length ? options.scenarios.map((s) => s.toUpperCase()) : catalogue.map((s) => s.id);
  const unknown = wanted.filter((id) => !catalogue.some((s) => s.id === id));
  if (unknown.length) throw new Error(`unknown scenario(s): ${unknown.join(', ')}`);
  const chosen = catalogue.filter((s) => wanted.includes(s.id));

  const started = Date.now();
  const suiteDeadline = started + (options.maxMinutes ?? 40) * 60_000;
  installQuietRuntime();
  say(`starting the stack for ${chosen.map((s) => s.id).join(', ')} (${scale})`);
  const stack = await BenchStack.start({
    say,
    postgresUrl: options.postgresUrl,
    temporalAddress: options.temporalAddress,
  });
  const api = new ChatdApi(stack.apis[0]?.url ?? '', stack.token, `${stack.fakeUrl}/v1`);
  const pg = new PgProbe(stack.databaseUrl, stack.database);
  const results = new Map<string, ScenarioResult>();
  try {
    await pg.connect();
    const meter = new ProcessMeter();
    for (const scenario of chosen) {
      const budgetS = scale === 'smoke' ? 40 : scenario.budgetS;
      const ctx: ScenarioContext = {
        stack,
        api,
        pg,
        meter,
        scale,
        say,
        results,
        deadline: Math.min(Date.now() + budgetS * 1000, suiteDeadline),
      };
      const t0 = Date.now();
      let result: ScenarioResult;
      if (Date.now() > suiteDeadline - 20_000) {
        result = newResult(scenario.id, scenario.title);
        result.skipped['scenario'] =
          `the suite's ${options.maxMinutes ?? 40}-minute limit was reached before it started`;
        results.set(scenario.id, result);
        writeResult(outDir, result);
        continue;
      }
      say(`${scenario.id}: ${scenario.title} (budget ${budgetS} s)`);
      try {
        await resetFake(stack.fakeUrl);
        result = await scenario.run(ctx);
      } catch (err) {
        say(`${scenario.id} failed: ${(err as Error).stack ?? String(err)}`);
        result = newResult(scenario.id, scenario.title);
        result.skipped['scenario'] = `failed: ${(err as Error).message}`;
      }
      result.duration_s = Math.round((Date.now() - t0) / 100) / 10;
      results.set(scenario.id, result);
      const file = writeResult(outDir, result);
      say(`${scenario.id} done in ${result.duration_s} s → ${file}`);
    }
  } finally {
    api.close();
    await pg.close();
    await stack.stop(options.keepWorkDir);
  }
  const all = readResults(outDir);
  for (const [id, r] of results) all.set(id, r);
  const machine = `${os.cpus().length} cores (${os.cpus()[0]?.model ?? 'unknown CPU'}), ${Math.round(os.totalmem() / 2 ** 30)} GB, Node ${process.version}, ${os.platform()} ${os.release()}`;
  const summary = writeSummary(outDir, all, new Set(results.keys()), machine);
  say(`all done in ${Math.round((Date.now() - started) / 1000)} s → ${summary}`);
  return results;
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      out: { type: 'string' },
      smoke: { type: 'boolean', default: false },
      keep: { type: 'boolean', default: false },
      'max-minutes': { type: 'string' },
    },
  });
  await runBench({
    scenarios: positionals,
    outDir: values.out,
    scale: values.smoke ? 'smoke' : 'full',
    keepWorkDir: values.keep,
    maxMinutes: values['max-minutes'] ? Number(values['max-minutes']) : undefined,
  });
  // The Temporal SDK's native runtime can keep the event loop alive after everything closed.
  process.exit(0);
}

if (require.main === module) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
