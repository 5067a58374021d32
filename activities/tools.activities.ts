/**
 * Tool activities: runTools executes a step's local tool calls (src/turn/tool-step.ts) and
 * persistToolResults stores the small results of the calls the workflow itself ran (sub-agents).
 * Interrupts abort running tools; a worker shutdown leaves the step to be retried elsewhere.
 */
import { Context } from '@temporalio/activity';
import { persistToolResults, type WorkflowToolResult } from '../src/turn/tool-results';
import { runToolStep, type ToolStepDeps, type ToolStepSummary } from '../src/turn/tool-step';
import { SUBAGENT_TOOLS } from '../src/tools/subagent-names';
import { abortOnInterrupt } from './abort-on-interrupt';
import type { StepInput } from '../src/turn/deps';

export function createToolActivities(deps: ToolStepDeps) {
  return {
    /** `callIds`: only these calls of the step (the others wait for approval or were denied). */
    async runTools(input: StepInput & { callIds?: string[] }): Promise<ToolStepSummary> {
      const ctx = Context.current();
      const interrupt = abortOnInterrupt(deps.bus, input);
      try {
        return await runToolStep(deps, input, SUBAGENT_TOOLS, {
          ...(input.callIds ? { only: new Set(input.callIds) } : {}),
          signal: interrupt.signal,
          heartbeat: () => ctx.heartbeat(),
          attempt: ctx.info.attempt,
        });
      } finally {
        interrupt.dispose();
      }
    },

    async persistToolResults(input: StepInput & { results: WorkflowToolResult[] }): Promise<{ stored: number }> {
      return persistToolResults(deps, input, input.results);
    },
  };
}
