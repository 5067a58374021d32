/**
 * What every scenario receives and returns: the running stack and its clients, the meters, the
 * scale (full benchmark or the tiny smoke run), a time budget, and the results of scenarios that
 * already ran in this invocation (baselines are measured in the same run). A result is written as
 * `<outDir>/<id>.json`; its headlines become rows of SUMMARY.md.
 */
import type { ChatdApi } from './api';
import type { PgProbe } from './pg-stats';
import type { GroupUsage, ProcessMeter } from './proc';
import type { BenchStack } from './stack';

export type Scale = 'full' | 'smoke';

/** One row of the summary: a measured figure, its same-run baseline and ratio, and the target. */
export interface Headline {
  metric: string;
  value: number | null;
  unit: string;
  baseline?: { name: string; value: number | null; unit: string };
  /** value relative to the baseline (how it is formed is in ratio_label). */
  ratio?: number | null;
  ratio_label?: string;
  /** The scenario's target, in words. */
  target?: string;
  /** Whether the target is met; null when it cannot be judged. */
  pass?: boolean | null;
}

export interface ScenarioResult {
  scenario: string;
  title: string;
  started_at: string;
  duration_s: number;
  /** How many repetitions the medians are over. */
  runs: number;
  /** Deviations from the scenario's standard sizes, and why. */
  scaled_down: string[];
  headlines: Headline[];
  /** Medians over the runs, and scenario-specific figures. */
  metrics: Record<string, unknown>;
  /** CPU and RSS per process over the measured windows. */
  processes?: Record<string, GroupUsage> | Record<string, Record<string, GroupUsage>>;
  /** What could not be measured, and why (never silently absent). */
  skipped: Record<string, string>;
  /** Every run's raw figures. */
  raw?: unknown;
  notes?: string[];
}

export interface ScenarioContext {
  stack: BenchStack;
  api: ChatdApi;
  pg: PgProbe;
  meter: ProcessMeter;
  scale: Scale;
  say: (line: string) => void;
  /** Results of scenarios already run in this invocation, by id. */
  results: Map<string, ScenarioResult>;
  /** Epoch ms by which the scenario should wrap up (it stops starting new work after it). */
  deadline: number;
}

export interface Scenario {
  id: string;
  title: string;
  /** Time budget of a full run, seconds. */
  budgetS: number;
  run(ctx: ScenarioContext): Promise<ScenarioResult>;
}

/** A result skeleton with the common fields filled in. */
export function newResult(id: string, title: string): ScenarioResult {
  return {
    scenario: id,
    title,
    started_at: new Date().toISOString(),
    duration_s: 0,
    runs: 0,
    scaled_down: [],
    headlines: [],
    metrics: {},
    skipped: {},
  };
}

/** Whether `value` meets `≤ limit` (null when unknown). */
export function atMost(value: number | null | undefined, limit: number): boolean | null {
  return value === null || value === undefined ? null : value <= limit;
}

/** Whether `value` meets `≥ limit` (null when unknown). */
export function atLeast(value: number | null | undefined, limit: number): boolean | null {
  return value === null || value === undefined ? null : value >= limit;
}
