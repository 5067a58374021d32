/**
 * Tool calls that wait for the user's approval, as the turn workflow runs them (docs/tool-approval.md).
 * An activity records the calls and moves the chat to `requires_action`; the workflow then waits on a
 * durable timer, holding no worker, for `decide-tool-call` updates. Each decision is recorded as it
 * arrives and an approved call runs at once, on the workspace's host like any local call; a denied one
 * gets a result saying why. When the wait expires the calls still waiting are denied; when the turn is
 * interrupted, archived or edited they are denied as stopped before the cancellation goes on.
 */
import { ApplicationFailure, CancellationScope, condition, isCancellation, log } from '@temporalio/workflow';
import type { ToolCallSummary } from '../src/turn/model-step';
import type { ToolStepSummary } from '../src/turn/tool-step';
import type { ToolDecision } from '../src/turn/tool-approvals';
import type { WorkspaceHostRoute } from '../src/temporal/task-queues';
import { approvals } from './activity-proxies';
import {
  TOOL_CALL_NOT_WAITING,
  type ChatTurnInput,
  type ToolCallDecisionInput,
  type ToolCallDecisionResult,
} from './messages';
import { setChatStatus } from './search-status';
import { runLocalTools } from './workspace-hosts';

/** Patch id of the approval wait: histories from before it ran every local call at once. */
export const TOOL_APPROVAL_PATCH = 'tool-approval';

type StepStatus = ToolStepSummary['status'];

const DECISIONS = { approve: 'approved', deny: 'denied', approve_always: 'approved_always' } as const;

export class ToolApprovals {
  /** The calls waiting for a decision, by call id. */
  private readonly waiting = new Map<string, ToolCallSummary>();
  /** Decisions taken and not yet acted on, in arrival order. */
  private readonly decided: Array<{ call: ToolCallSummary; decision: ToolDecision }> = [];
  /** Steps whose wait has not ended yet (their denials included). */
  private running = 0;

  constructor(
    private readonly input: ChatTurnInput,
    /** True once the turn is stopping: decisions arriving then are refused. */
    private readonly stopping: () => boolean,
  ) {}

  /** True when no step waits or records its stop: the turn may end (finishTurn, continue-as-new). */
  get idle(): boolean {
    return this.running === 0;
  }

  /** The update's validator: only a call waiting now, in a turn that is not stopping, may be decided. */
  validate(d: ToolCallDecisionInput): void {
    if (!this.waiting.has(d.callId) || this.stopping() || !Object.hasOwn(DECISIONS, d.decision)) {
      throw ApplicationFailure.create({
        type: TOOL_CALL_NOT_WAITING,
        message: `Tool call ${d.callId} is not waiting for a decision.`,
        nonRetryable: true,
      });
    }
  }

  /** The update's handler: takes the decision (and, for approve_always, the same tool's other waiting calls). */
  decide(d: ToolCallDecisionInput): ToolCallDecisionResult {
    this.validate(d);
    const call = this.waiting.get(d.callId)!;
    const decidedAt = new Date().toISOString();
    const decision = DECISIONS[d.decision];
    const reason = decision === 'denied' ? (d.reason ?? null) : null;
    this.take(call, { callId: call.id, toolName: call.name, decision, reason, decidedBy: d.userId, decidedAt });
    if (decision === 'approved_always') {
      for (const other of [...this.waiting.values()].filter((c) => c.name === call.name)) {
        this.take(other, {
          callId: other.id,
          toolName: other.name,
          decision: 'approved',
          reason: `approved for the rest of the chat with call ${call.id}`,
          decidedBy: d.userId,
          decidedAt,
        });
      }
    }
    return { callId: call.id, decision, decidedAt };
  }

  /**
   * Waits for decisions on `calls` of step `step` and runs the approved ones; returns the worst status
   * of what ran ('fenced' when the turn is over, 'interrupted' when a run was).
   */
  async run(step: number, calls: ToolCallSummary[], route: WorkspaceHostRoute | null): Promise<StepStatus> {
    this.running++;
    try {
      return await this.waitAndAct(step, calls, route);
    } finally {
      this.running--;
    }
  }

  private async waitAndAct(
    step: number,
    calls: ToolCallSummary[],
    route: WorkspaceHostRoute | null,
  ): Promise<StepStatus> {
    const at = { chatId: this.input.chatId, turn: this.input.turn, step };
    // Waiting from before the request: a stop while it runs still denies (and answers) these calls.
    for (const call of calls) this.waiting.set(call.id, call);
    const acting: Array<Promise<StepStatus>> = [];
    try {
      // Never abandoned: a stop waits for the request, so the denial below always follows its rows.
      const requested = await CancellationScope.nonCancellable(() =>
        approvals(`Ask for approval: ${names(calls)}`).requestToolApprovals({ ...at, calls }),
      );
      if (requested.status === 'fenced') {
        for (const call of calls) this.waiting.delete(call.id);
        return 'fenced';
      }
      setChatStatus('requires_action');
      const deadline = Date.now() + requested.waitMs;
      while (this.waiting.size > 0 || this.decided.length > 0) {
        if (this.decided.length === 0) {
          const decided = await condition(() => this.decided.length > 0, Math.max(1, deadline - Date.now()));
          if (!decided) this.expireWaiting(requested.expiresAt);
        }
        acting.push(this.act(step, this.decided.splice(0), route));
      }
      return worst(await Promise.all(acting));
    } catch (err) {
      if (!isCancellation(err)) throw err;
      await Promise.allSettled(acting);
      await this.denyStopped(step);
      throw err;
    }
  }

  private take(call: ToolCallSummary, decision: ToolDecision): void {
    this.waiting.delete(call.id);
    this.decided.push({ call, decision });
  }

  private expireWaiting(expiresAt: string): void {
    for (const call of [...this.waiting.values()]) {
      this.take(call, {
        callId: call.id,
        toolName: call.name,
        decision: 'expired',
        reason: `no decision by ${expiresAt}`,
        decidedBy: null,
        decidedAt: new Date().toISOString(),
      });
    }
  }

  /** Records a batch of decisions, then runs its approved calls. */
  private async act(
    step: number,
    batch: Array<{ call: ToolCallSummary; decision: ToolDecision }>,
    route: WorkspaceHostRoute | null,
  ): Promise<StepStatus> {
    const settled = this.waiting.size === 0;
    // A decision taken is recorded even when the turn stops meanwhile.
    const recorded = await CancellationScope.nonCancellable(() =>
      approvals(`Record ${batch.length} tool decision(s)`).recordToolDecisions({
        chatId: this.input.chatId,
        turn: this.input.turn,
        step,
        decisions: batch.map((b) => b.decision),
        settled,
      }),
    );
    if (recorded.status === 'fenced') return 'fenced';
    if (settled) setChatStatus('running');
    const approved = batch.filter((b) => b.decision.decision.startsWith('approved')).map((b) => b.call);
    if (approved.length === 0) return 'ok';
    const ran = await runLocalTools(
      this.input,
      step,
      approved,
      route,
      approved.map((c) => c.id),
    );
    return ran.status;
  }

  /** The turn is stopping: whatever still waits (or was decided and not acted on) is denied as stopped. */
  private async denyStopped(step: number): Promise<void> {
    const left = [...this.waiting.values(), ...this.decided.map((d) => d.call)];
    this.waiting.clear();
    this.decided.length = 0;
    if (left.length === 0) return;
    const decidedAt = new Date().toISOString();
    try {
      await CancellationScope.nonCancellable(() =>
        approvals('Deny tool calls: turn stopped').recordToolDecisions({
          chatId: this.input.chatId,
          turn: this.input.turn,
          step,
          decisions: left.map((call) => ({
            callId: call.id,
            toolName: call.name,
            decision: 'denied',
            reason: null,
            decidedBy: null,
            decidedAt,
            stopped: true,
          })),
          settled: true,
        }),
      );
    } catch (err) {
      log.warn('could not record the denial of waiting tool calls', { chatId: this.input.chatId, error: String(err) });
    }
  }
}

const names = (calls: ToolCallSummary[]): string => [...new Set(calls.map((c) => c.name))].join(', ');

const RANK: Record<StepStatus, number> = { ok: 0, interrupted: 1, fenced: 2 };
const worst = (statuses: StepStatus[]): StepStatus =>
  statuses.reduce<StepStatus>((a, b) => (RANK[b] > RANK[a] ? b : a), 'ok');
