/**
 * Tool approval activities (docs/tool-approval.md): record the calls of a step that wait for the user,
 * and record the decisions the workflow received (src/turn/tool-approvals.ts). The wait is the workflow's.
 */
import {
  recordToolDecisions,
  requestToolApprovals,
  type ApprovalRequestResult,
  type ToolApprovalDeps,
  type ToolDecision,
} from '../src/turn/tool-approvals';
import type { StepInput } from '../src/turn/deps';
import type { ToolCallSummary } from '../src/turn/model-step';

export function createApprovalActivities(deps: ToolApprovalDeps) {
  return {
    async requestToolApprovals(input: StepInput & { calls: ToolCallSummary[] }): Promise<ApprovalRequestResult> {
      return requestToolApprovals(deps, input);
    },

    async recordToolDecisions(
      input: StepInput & { decisions: ToolDecision[]; settled: boolean },
    ): Promise<{ status: 'ok' | 'fenced' }> {
      return recordToolDecisions(deps, input);
    },
  };
}
