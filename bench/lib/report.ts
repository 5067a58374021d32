/**
 * Writing results: one JSON file per scenario, and SUMMARY.md with every headline beside its
 * same-run baseline, ratio and target. Scenarios not run in this invocation keep the
 * rows of their last JSON, marked with its date.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import type { Headline, ScenarioResult } from './scenario';

export function writeResult(outDir: string, result: ScenarioResult): string {
  mkdirSync(outDir, { recursive: true });
  const file = path.join(outDir, `${result.scenario}.json`);
  writeFileSync(file, JSON.stringify(result, null, 2) + '\n');
  return file;
}

/** Every result JSON in `outDir`, by scenario id. */
export function readResults(outDir: string): Map<string, ScenarioResult> {
  const out = new Map<string, ScenarioResult>();
  if (!existsSync(outDir)) return out;
  for (const name of readdirSync(outDir)) {
    if (!/^S\d+\.json$/.test(name)) continue;
    try {
      const parsed = JSON.parse(readFileSync(path.join(outDir, name), 'utf8')) as ScenarioResult;
      out.set(parsed.scenario, parsed);
    } catch {
      // A half-written file from an interrupted run: ignore it.
    }
  }
  return out;
}

const fmt = (v: number | null | undefined, unit = ''): string =>
  v === null || v === undefined
    ? '—'
    : `${Number.isInteger(v) ? v : v.toFixed(Math.abs(v) >= 100 ? 0 : 2)}${unit ? ` ${unit}` : ''}`;

const verdict = (h: Headline): string => (h.pass === true ? 'met' : h.pass === false ? '**missed**' : '—');

function row(h: Headline): string {
  const baseline = h.baseline ? `${h.baseline.name}: ${fmt(h.baseline.value, h.baseline.unit)}` : '—';
  const ratio = h.ratio === undefined ? '—' : `${fmt(h.ratio)}${h.ratio_label ? ` (${h.ratio_label})` : ''}`;
  return `| ${h.metric} | ${fmt(h.value, h.unit)} | ${baseline} | ${ratio} | ${h.target ?? '—'} | ${verdict(h)} |`;
}

/** SUMMARY.md over `results` (sorted by scenario number). */
export function renderSummary(results: Map<string, ScenarioResult>, current: Set<string>, machine: string): string {
  const ids = [...results.keys()].sort((a, b) => Number(a.slice(1)) - Number(b.slice(1)));
  const lines: string[] = [
    '# chatd benchmark summary',
    '',
    `Generated ${new Date().toISOString()} by \`npm run bench\` on ${machine}.`,
    'Every figure is a median of the runs stated per scenario; each headline is set against a baseline',
    'measured in the same run. Absolute numbers are context; the ratios and targets matter.',
    '',
  ];
  for (const id of ids) {
    const r = results.get(id)!;
    const when = current.has(id) ? '' : ` (from an earlier run, ${r.started_at})`;
    lines.push(`## ${id}: ${r.title}${when}`, '');
    lines.push(`Runs: ${r.runs}; duration ${r.duration_s} s.`);
    if (r.scaled_down.length) lines.push(`Scaled down: ${r.scaled_down.join('; ')}.`);
    lines.push('');
    if (r.headlines.length) {
      lines.push('| Metric | Measured | Baseline (same run) | Ratio | Target | Verdict |');
      lines.push('|---|---|---|---|---|---|');
      for (const h of r.headlines) lines.push(row(h));
      lines.push('');
    }
    const skipped = Object.entries(r.skipped);
    if (skipped.length) {
      lines.push('Not measured:', '');
      for (const [what, why] of skipped) lines.push(`- \`${what}\`: ${why}`);
      lines.push('');
    }
    for (const note of r.notes ?? []) lines.push(`> ${note}`, '');
  }
  return lines.join('\n');
}

export function writeSummary(
  outDir: string,
  results: Map<string, ScenarioResult>,
  current: Set<string>,
  machine: string,
): string {
  const file = path.join(outDir, 'SUMMARY.md');
  writeFileSync(file, renderSummary(results, current, machine));
  return file;
}
