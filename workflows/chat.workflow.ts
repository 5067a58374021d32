/**
 * chatWorkflow: one chat turn. Runs model steps and their tool calls until the model stops, then
 * hands the chat back through finishTurn, which may promote the next queued message; the next turn
 * is this workflow id's next run (continue-as-new). Local tools run in the runTools activity, on
 * the workspace's host (workflows/workspace-hosts.ts); sub-agent tools run here
 * (workflows/subagents.ts); calls that need the user's approval wait for it (workflows/approvals.ts).
 * Only ids and summaries pass through history.
 */
import {
  CancellationScope,
  condition,
  ContinueAsNew,
  continueAsNew,
  isCancellation,
  log,
  patched,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { ErrorPayload } from '../src/messages/error-payload';
import { SUBAGENT_TOOLS } from '../src/tools/subagent-names';
import type { CompactionTrigger } from '../src/turn/compact-step';
import type { TurnEnd, TurnOutcome } from '../src/turn/finish-turn';
import type { FirstStepRoute, WorkspaceHostRoute } from '../src/temporal/task-queues';
import { background, compaction, finishing, modelStep } from './activity-proxies';
import { MAX_COMPACTION_REENTRIES, nextTurnToRun, turnErrorFrom } from './chat-turn';
import { TOOL_APPROVAL_PATCH, ToolApprovals } from './approvals';
import {
  decideToolCallUpdate,
  interruptSignal,
  subagentFinishedSignal,
  turnRequestedSignal,
  turnSlotFreedSignal,
  type ChatTurnInput,
} from './messages';
import { setChatStatus } from './search-status';
import { SubagentCalls } from './subagents';
import { TURN_SLOTS_PATCH, TurnSlotWait } from './turn-slots';
import { runLocalTools } from './workspace-hosts';
import { runFirstModelStep } from './first-step';

export interface ChatTurnResult {
  outcome: TurnOutcome;
  steps: number;
}

/**
 * Patch id of finishing a run that was cancelled as a whole (Temporal cancels a sub-agent's run when its
 * parent's turn stops): histories from before it ended such a run without finishTurn.
 */
export const FINISH_WHEN_CANCELLED_PATCH = 'finish-when-cancelled';

export async function chatWorkflow(input: ChatTurnInput): Promise<ChatTurnResult> {
  const root = CancellationScope.current();
  const steps = new CancellationScope();
  const subagents = new SubagentCalls(input);
  let stopReason: Extract<TurnOutcome, 'interrupted' | 'superseded'> | null = null;
  let requestedTurn = input.turn;
  // Where the requested turn's first step runs, when it started early (workflows/first-step.ts).
  let requestedRoute: FirstStepRoute | undefined;

  setHandler(interruptSignal, ({ turn }) => {
    if (turn !== input.turn) return;
    stopReason ??= 'interrupted';
    steps.cancel();
  });
  setHandler(turnRequestedSignal, ({ turn, firstStep }) => {
    if (turn <= requestedTurn) return;
    requestedTurn = turn;
    requestedRoute = firstStep;
    stopReason = 'superseded';
    steps.cancel();
  });
  setHandler(subagentFinishedSignal, ({ chatId }) => subagents.onFinished(chatId));
  const slots = new TurnSlotWait();
  setHandler(turnSlotFreedSignal, () => slots.onFreed());
  const approvals = new ToolApprovals(input, () => stopReason !== null);
  setHandler(decideToolCallUpdate, (decision) => approvals.decide(decision), {
    validator: (decision) => approvals.validate(decision),
  });

  // Best effort and outside the steps' scope: an interrupt does not cancel it, a failure does not fail the turn.
  const titling =
    input.turn === 1 && input.fromStep === undefined
      ? background('Generate title')
          .generateChatTitle({ chatId: input.chatId })
          .catch(() => null)
      : null;

  let outcome: TurnOutcome = 'completed';
  let error: ErrorPayload | null = null;
  let step = input.fromStep ?? 0;
  let reentries = 0;
  // Set when the last model step also ended the turn (its message and the end commit together).
  let endedByStep: TurnEnd | null = null;
  // Where local tool calls run: the latest route a model step reported (README "Workspace hosts").
  let workspaceHost: WorkspaceHostRoute | null = null;
  try {
    outcome = await steps.run(async () => {
      for (; ; step++) {
        // `finish`: the step that turns out to be the last ends the turn itself. Histories from before it
        // hold steps without `finished`, so the branch below replays as they ran.
        const stepInput = { chatId: input.chatId, turn: input.turn, step, finish: true };
        let result = await (step === 0 && input.firstStep && input.fromStep === undefined
          ? runFirstModelStep(input.firstStep, stepInput)
          : modelStep(step).runModelStep(stepInput));
        while (result.status === 'queued') {
          patched(TURN_SLOTS_PATCH);
          // Every retry adds to the history, and a turn may wait behind long ones (approvals wait for days):
          // roll over to a fresh history, still waiting for this step, before it grows past Temporal's limit.
          if (workflowInfo().continueAsNewSuggested) {
            await continueAsNew<typeof chatWorkflow>({ chatId: input.chatId, turn: input.turn, fromStep: step });
          }
          await slots.wait();
          result = await modelStep(step).runModelStep(stepInput);
        }
        if (result.status !== 'ok') return result.status;
        if (step === (input.fromStep ?? 0)) setChatStatus('running');
        if (result.workspaceHost !== undefined) workspaceHost = result.workspaceHost;

        const local = result.toolCalls.filter((c) => !SUBAGENT_TOOLS.has(c.name));
        const delegated = result.toolCalls.filter((c) => SUBAGENT_TOOLS.has(c.name));
        const asking = local.filter((c) => c.approval === 'ask');
        const ask = asking.length > 0 && patched(TOOL_APPROVAL_PATCH) ? asking : [];
        const now = local.filter((c) => !ask.includes(c));
        const [toolStep, approved] = await Promise.all([
          now.length
            ? runLocalTools(input, step, now, workspaceHost, ask.length ? now.map((c) => c.id) : undefined)
            : null,
          ask.length ? approvals.run(step, ask, workspaceHost) : null,
          delegated.length ? subagents.run(step, delegated) : null,
        ]);
        if (toolStep && toolStep.status !== 'ok') return toolStep.status;
        if (approved && approved !== 'ok') return approved;

        if (result.compaction) {
          const compacted = await compact(input, step, result.compaction);
          if (compacted === 'fenced') return 'fenced';
          if (compacted === 'compacted' && !result.continue && reentries < MAX_COMPACTION_REENTRIES) {
            reentries++;
            continue;
          }
        }
        if (!result.continue) {
          endedByStep = result.finished ?? null;
          return 'completed';
        }

        if (workflowInfo().continueAsNewSuggested) {
          // A long turn rolls over to a fresh history and resumes at the next step.
          await continueAsNew<typeof chatWorkflow>({ chatId: input.chatId, turn: input.turn, fromStep: step + 1 });
        }
      }
    });
  } catch (err) {
    // continueAsNew works by throwing: let it through.
    if (err instanceof ContinueAsNew) throw err;
    if (isCancellation(err)) {
      outcome = stopReason ?? 'interrupted';
    } else {
      outcome = 'failed';
      error = turnErrorFrom(err);
      log.warn('turn failed', { chatId: input.chatId, turn: input.turn, error: String(err) });
      // Calls still waiting for approval must not outlive the turn: stop the wait (they are denied).
      if (!approvals.idle) steps.cancel();
    }
  }
  // A run cancelled as a whole (a sub-agent whose parent's turn stopped) still hands its chat back.
  const handBack = <T>(fn: () => Promise<T>): Promise<T> =>
    root.consideredCancelled && patched(FINISH_WHEN_CANCELLED_PATCH) ? CancellationScope.nonCancellable(fn) : fn();
  // Calls that waited for approval are denied and recorded before the turn ends.
  if (!approvals.idle) await handBack(() => condition(() => approvals.idle));

  await titling;
  const finished =
    endedByStep ??
    (await handBack(() => finishing.finishTurn({ chatId: input.chatId, turn: input.turn, outcome, error })));
  if (finished.status) setChatStatus(finished.status);
  const next = nextTurnToRun(input.turn, finished.nextTurn, requestedTurn);
  if (next !== null) {
    const firstStep = next === requestedTurn && requestedRoute ? { firstStep: requestedRoute } : {};
    await continueAsNew<typeof chatWorkflow>({ chatId: input.chatId, turn: next, ...firstStep });
  }
  return { outcome, steps: step + 1 };
}

/** Compaction is best effort: a failed summary leaves the context as it is (the next step may still fit). */
async function compact(
  input: ChatTurnInput,
  step: number,
  trigger: CompactionTrigger,
): Promise<'compacted' | 'fenced' | 'failed'> {
  try {
    return (await compaction(step).compactChat({ chatId: input.chatId, turn: input.turn, step, trigger })).status;
  } catch (err) {
    if (isCancellation(err)) throw err;
    log.warn('compaction failed', { chatId: input.chatId, turn: input.turn, error: String(err) });
    return 'failed';
  }
}
