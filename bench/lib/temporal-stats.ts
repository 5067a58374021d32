/**
 * Temporal's side of the cost: history events and state transitions of sampled workflow runs (the
 * client's fetchHistory and describe), the server's total of persisted state transitions (the
 * dev server's Prometheus `state_transition_count` histogram counts one observation per mutable
 * state write), and the event timestamps that split a turn's latency into its Temporal stages.
 */
import type { Client } from '@temporalio/client';
import { tsToMs } from '@temporalio/common/lib/time';

/** Names of the history event types a turn uses (temporal.api.enums.v1.EventType). */
const EVENT_NAMES: Record<number, string> = {
  1: 'WorkflowExecutionStarted',
  2: 'WorkflowExecutionCompleted',
  3: 'WorkflowExecutionFailed',
  5: 'WorkflowTaskScheduled',
  6: 'WorkflowTaskStarted',
  7: 'WorkflowTaskCompleted',
  8: 'WorkflowTaskTimedOut',
  9: 'WorkflowTaskFailed',
  10: 'ActivityTaskScheduled',
  11: 'ActivityTaskStarted',
  12: 'ActivityTaskCompleted',
  13: 'ActivityTaskFailed',
  14: 'ActivityTaskTimedOut',
  15: 'ActivityTaskCancelRequested',
  16: 'ActivityTaskCanceled',
  26: 'WorkflowExecutionSignaled',
  28: 'WorkflowExecutionContinuedAsNew',
  40: 'UpsertWorkflowSearchAttributes',
  46: 'WorkflowPropertiesModified',
};

export interface RunHistory {
  workflowId: string;
  runId: string | undefined;
  events: number;
  byType: Record<string, number>;
  /** The run's persisted state transitions (describe: workflowExecutionInfo.stateTransitionCount). */
  stateTransitions: number | null;
  /** Event times, ms, of the first event of each type. */
  firstAt: Record<string, number>;
  /** Every event's type name and time, in order. */
  timeline: Array<{ type: string; at: number }>;
}

/** History of one run (the latest when `runId` is omitted). */
export async function runHistory(client: Client, workflowId: string, runId?: string): Promise<RunHistory> {
  const handle = client.workflow.getHandle(workflowId, runId);
  const [history, description] = await Promise.all([handle.fetchHistory(), handle.describe().catch(() => null)]);
  const byType: Record<string, number> = {};
  const firstAt: Record<string, number> = {};
  const timeline: RunHistory['timeline'] = [];
  for (const event of history.events ?? []) {
    const type = EVENT_NAMES[event.eventType ?? 0] ?? `Event${event.eventType}`;
    byType[type] = (byType[type] ?? 0) + 1;
    const at = tsToMs(event.eventTime);
    if (firstAt[type] === undefined) firstAt[type] = at;
    timeline.push({ type, at });
  }
  const transitions = description?.raw.workflowExecutionInfo?.stateTransitionCount;
  return {
    workflowId,
    runId: runId ?? description?.runId,
    events: history.events?.length ?? 0,
    byType,
    stateTransitions: transitions === undefined || transitions === null ? null : Number(transitions),
    firstAt,
    timeline,
  };
}

/** The run ids of a workflow id, newest first (visibility; at most `limit`). */
export async function runIdsOf(client: Client, workflowId: string, limit = 50): Promise<string[]> {
  const ids: string[] = [];
  for await (const wf of client.workflow.list({ query: `WorkflowId = '${workflowId}'` })) {
    ids.push(wf.runId);
    if (ids.length >= limit) break;
  }
  return ids;
}

/** Total persisted state transitions of the `default` namespace so far, or null without metrics. */
export async function scrapeStateTransitions(metricsUrl: string | null): Promise<number | null> {
  if (!metricsUrl) return null;
  try {
    const text = await (await fetch(metricsUrl)).text();
    let total = 0;
    for (const line of text.split('\n')) {
      if (!line.startsWith('state_transition_count_count{') || !line.includes('namespace="default"')) continue;
      total += Number(line.slice(line.lastIndexOf(' ') + 1));
    }
    return total;
  } catch {
    return null;
  }
}
