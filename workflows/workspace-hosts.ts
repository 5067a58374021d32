/**
 * Routing a step's local tool calls to the host holding the chat's workspace (README "Workspace
 * hosts"). The model step reports the route, read from the workspace row, so the workflow routes
 * by data. A host that does not pick the calls up in time is reported to the model as an error
 * result for each call, and the turn goes on: the workspace is never concluded deleted from here.
 */
import { log, patched } from '@temporalio/workflow';
import type { ToolCallSummary } from '../src/turn/model-step';
import type { ToolStepSummary } from '../src/turn/tool-step';
import type { WorkspaceHostRoute } from '../src/temporal/task-queues';
import { hostTools, isPickupTimeout, toolResults, tools } from './activity-proxies';
import type { ChatTurnInput } from './messages';

/** Patch id of the host routing: histories from before it schedule runTools on the shared queue. */
export const WORKSPACE_HOST_ROUTING_PATCH = 'route-tools-to-workspace-host';

/** The tool result each call gets when its host did not pick the step up. */
export function hostUnavailableMessage(route: WorkspaceHostRoute): string {
  return (
    `workspace host unavailable: ${route.hostId} did not pick up the tool calls within ` +
    `${route.pickupTimeoutSeconds} s; try again later`
  );
}

/**
 * Runs the step's local tool calls: on the workspace host's task queue when the chat's workspace has
 * a host, otherwise on the workflow's own (shared) queue, where any worker may create the workspace.
 * `callIds` limits the run to those calls of the step (the others wait for approval).
 */
export async function runLocalTools(
  input: ChatTurnInput,
  step: number,
  calls: ToolCallSummary[],
  route: WorkspaceHostRoute | null,
  callIds?: string[],
): Promise<ToolStepSummary> {
  const summary = `Tools: ${calls.map((c) => c.name).join(', ')}`;
  const stepInput = { chatId: input.chatId, turn: input.turn, step, ...(callIds ? { callIds } : {}) };
  if (!route || !patched(WORKSPACE_HOST_ROUTING_PATCH)) return tools(summary).runTools(stepInput);
  try {
    return await hostTools(`${summary} on host ${route.hostId}`, route).runTools(stepInput);
  } catch (err) {
    if (!isPickupTimeout(err)) throw err;
    log.warn('workspace host did not pick up the tool calls', { chatId: input.chatId, host: route.hostId, step });
    const error = hostUnavailableMessage(route);
    const { stored } = await toolResults('Store tool results: workspace host unavailable').persistToolResults({
      chatId: input.chatId,
      turn: input.turn,
      step,
      results: calls.map((call) => ({ callId: call.id, name: call.name, result: { error }, isError: true })),
    });
    return { status: 'ok', results: stored };
  }
}
