/**
 * The benchmark harness end to end at tiny scale: `runBench` (bench/run.ts) runs S2 with three
 * measured turns on this test run's PostgreSQL and Temporal (its own database and task queue, chatd
 * api and worker as child processes, the fake LLM process), writing into a temp dir, never into
 * bench/results. Benchmarks themselves never run in `npm test`.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { runBench } from '../../bench/run';
import type { ScenarioResult } from '../../bench/lib/scenario';

describe('npm run bench, smoke scale', () => {
  let outDir: string;

  beforeAll(() => {
    outDir = mkdtempSync(path.join(os.tmpdir(), 'chatd-bench-smoke-'));
  });

  afterAll(() => {
    rmSync(outDir, { recursive: true, force: true });
  });

  it('runs S2 through the real stack and writes its JSON with numbers', async () => {
    const lines: string[] = [];
    await runBench({
      scenarios: ['S2'],
      outDir,
      scale: 'smoke',
      postgresUrl: process.env.CHATD_TEST_DATABASE_URL,
      temporalAddress: process.env.TEMPORAL_ADDRESS,
      say: (line) => lines.push(line),
    });

    const result = JSON.parse(readFileSync(path.join(outDir, 'S2.json'), 'utf8')) as ScenarioResult;
    expect(result.skipped.scenario).toBeUndefined();
    expect(result.scenario).toBe('S2');
    const byTtft = (result.metrics.by_fake_ttft as Record<string, any>).fake_ttft_0ms;
    expect(byTtft.errors).toBe(0);
    expect(byTtft.runs[0].chatd_ttft_ms.n).toBe(3);
    for (const key of ['added_p50_ms', 'chatd_ttft_p50_ms', 'direct_ttft_p50_ms', 'post_ack_p50_ms']) {
      expect(typeof byTtft[key]).toBe('number');
    }
    expect(byTtft.chatd_ttft_p50_ms).toBeGreaterThan(byTtft.direct_ttft_p50_ms);
    const headline = result.headlines.find((h) => h.metric.startsWith('added TTFT p50'));
    expect(typeof headline?.value).toBe('number');
    expect(typeof headline?.baseline?.value).toBe('number');
    // Per-process CPU and RSS were read from /proc for the chatd roles.
    const processes = result.processes as Record<string, { cpu_ms: number; rss_mb_end: number }>;
    expect(processes.api!.rss_mb_end).toBeGreaterThan(0);
    expect(processes.worker!.rss_mb_end).toBeGreaterThan(0);
    expect(readFileSync(path.join(outDir, 'SUMMARY.md'), 'utf8')).toContain('## S2');
  }, 60_000);
});
