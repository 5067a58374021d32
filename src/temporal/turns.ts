/**
 * Starting and steering turns from the API side. A turn is requested with signal-with-start: if
 * the chat's workflow is still open (closing its previous turn) the signal tells it to continue
 * as the new turn; otherwise a new run starts. Temporal's workflow id keeps one turn per chat.
 */
import { ApplicationFailure, WorkflowNotFoundError, WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import { chatWorkflow } from '../../workflows';
import {
  decideToolCallUpdate,
  interruptSignal,
  subagentFinishedSignal,
  TOOL_CALL_NOT_WAITING,
  turnRequestedSignal,
  turnSlotFreedSignal,
} from '../../workflows/messages';
import { pendingTurnSearchAttributes } from './search-attributes';
import { chatWorkflowId } from './workflow-ids';
import type { ToolCallDecisionInput, ToolCallDecisionResult, TurnLauncher, TurnRequest } from '../chat/turn-launcher';
import type { FirstStepRoute } from './task-queues';
/**
 * How long one request to Temporal may take, retries included. The client would otherwise retry an
 * unreachable server for about 20 s, and a turn request holds the chat's row lock and a database
 * connection meanwhile: a few sends during an outage would drain the API's pool.
 */
const REQUEST_DEADLINE_MS = 5_000;

export class TemporalTurnLauncher implements TurnLauncher {
  /** Set when this process's worker starts early first steps (docs/architecture.md "Early first step"). */
  private early: { route: FirstStepRoute; begin(chatId: string, turn: number): void } | null = null;

  constructor(
    private readonly client: Client,
    private readonly taskQueue: string,
  ) {}

  /**
   * From now on the first model step of an `early` turn runs on `route` (this process's worker), which
   * `begin` starts once the turn committed.
   */
  startFirstStepsHere(route: FirstStepRoute, begin: (chatId: string, turn: number) => void): void {
    this.early = { route, begin };
  }

  async requestTurn(request: TurnRequest): Promise<void> {
    // The route rides on the signal too: a run still closing continues as this turn with it.
    const firstStep = request.early && this.early ? { firstStep: this.early.route } : {};
    await this.withDeadline(() =>
      this.client.workflow.signalWithStart(chatWorkflow, {
        workflowId: chatWorkflowId(request.chatId),
        taskQueue: this.taskQueue,
        args: [{ chatId: request.chatId, turn: request.turn, ...firstStep }],
        signal: turnRequestedSignal,
        signalArgs: [{ turn: request.turn, ...firstStep }],
        typedSearchAttributes: pendingTurnSearchAttributes(request),
        staticSummary: `Chat ${request.chatId}, turn ${request.turn}`,
      }),
    );
  }

  turnCommitted(request: TurnRequest): void {
    if (request.early) this.early?.begin(request.chatId, request.turn);
  }

  /** Signals the running turn; a chat with no open workflow has nothing to interrupt. */
  async interrupt(chatId: string, turn: number): Promise<void> {
    await this.signalIfOpen(() =>
      this.client.workflow.getHandle(chatWorkflowId(chatId)).signal(interruptSignal, { turn }),
    );
  }

  async notifySubagentFinished(parentChatId: string, childChatId: string): Promise<void> {
    await this.signalIfOpen(() =>
      this.client.workflow
        .getHandle(chatWorkflowId(parentChatId))
        .signal(subagentFinishedSignal, { chatId: childChatId }),
    );
  }

  /** Wakes a turn waiting for a running-turn slot (the worker's finishTurn; no-op without an open run). */
  async wakeQueuedTurn(chatId: string): Promise<void> {
    await this.signalIfOpen(() => this.client.workflow.getHandle(chatWorkflowId(chatId)).signal(turnSlotFreedSignal));
  }

  async decideToolCall(
    chatId: string,
    decision: ToolCallDecisionInput,
  ): Promise<ToolCallDecisionResult | 'not_waiting'> {
    try {
      return await this.withDeadline(() =>
        this.client.workflow
          .getHandle(chatWorkflowId(chatId))
          .executeUpdate(decideToolCallUpdate, { args: [decision] }),
      );
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return 'not_waiting';
      if (
        err instanceof WorkflowUpdateFailedError &&
        err.cause instanceof ApplicationFailure &&
        err.cause.type === TOOL_CALL_NOT_WAITING
      ) {
        return 'not_waiting';
      }
      throw err;
    }
  }

  private withDeadline<T>(request: () => Promise<T>): Promise<T> {
    return this.client.withDeadline(Date.now() + REQUEST_DEADLINE_MS, request);
  }

  private async signalIfOpen(send: () => Promise<void>): Promise<void> {
    try {
      await this.withDeadline(send);
    } catch (err) {
      if (!(err instanceof WorkflowNotFoundError)) throw err;
    }
  }
}
