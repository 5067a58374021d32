/**
 * All activities, built from injected dependencies. Workflows import only the *type* Activities.
 * Activity names (the object keys) are durable public API: never rename them.
 */
import type { ChatServiceDeps } from '../src/chat/chat.service';
import type { ToolStepDeps } from '../src/turn/tool-step';
import { createApprovalActivities } from './approval.activities';
import { createLlmActivities, type EarlyStepDeps, type WorkspaceRoutingDeps } from './llm.activities';
import { createFinishActivities } from './finish.activities';
import { createSubagentActivities } from './subagent.activities';
import { createToolActivities } from './tools.activities';
import type { TurnDeps } from '../src/turn/deps';

export type ActivityDeps = TurnDeps & ToolStepDeps & ChatServiceDeps & WorkspaceRoutingDeps & EarlyStepDeps;

export function createActivities(deps: ActivityDeps) {
  return {
    ...createLlmActivities(deps),
    ...createToolActivities(deps),
    ...createSubagentActivities(deps),
    ...createFinishActivities(deps),
    ...createApprovalActivities(deps),
  };
}

export type Activities = ReturnType<typeof createActivities>;
