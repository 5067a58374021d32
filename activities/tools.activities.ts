/**
 * Tool activities: runTools executes a step's local tool calls (src/chat/tool-step.ts) and
 * persistToolResults stores the small results of the calls the workflow itself ran (sub-agents).
 * Interrupts abort running tools; a worker shutdown leaves the step to be retried elsewhere.
 */
import { Context } from '@temporalio/activity';
import { persistToolResults, type WorkflowToolResult } from '../src/chat/tool-results';
import { runToolStep, type ToolStepDeps, type ToolStepSummary } from '../src/chat/tool-step';
import { INTERRUPT, type StepInput } from '../src/chat/turn-runner';
import { SUBAGENT_TOOL_NAMES } from '../src/tools/subagent-names';

const WORKFLOW_TOOLS: ReadonlySet<string> = new Set(SUBAGENT_TOOL_NAMES);

export function createToolActivities(deps: ToolStepDeps) {
  return {
    async runTools(input: StepInput): Promise<ToolStepSummary> {
      const ctx = Context.current();
      const abort = new AbortController();
      const onCancel = (): void =>
        abort.abort(ctx.cancellationDetails?.cancelRequested ? INTERRUPT : ctx.cancellationSignal.reason);
      ctx.cancellationSignal.addEventListener('abort', onCancel);
      const stopControl = deps.bus.onControl(input.chatId, (m) => {
        if (m.type === 'interrupt' && m.turn === input.turn) abort.abort(INTERRUPT);
      });
      try {
        return await runToolStep(deps, input, WORKFLOW_TOOLS, {
          signal: abort.signal,
          heartbeat: () => ctx.heartbeat(),
        });
      } finally {
        stopControl();
        ctx.cancellationSignal.removeEventListener('abort', onCancel);
      }
    },

    async persistToolResults(input: StepInput & { results: WorkflowToolResult[] }): Promise<{ stored: number }> {
      return persistToolResults(deps, input, input.results);
    },
  };
}
