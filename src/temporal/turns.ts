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
/**
 * How long one request to Temporal may take, retries included. The client would otherwise retry an
 * unreachable server for about 20 s, and a turn request holds the chat's row lock and a database
 * connection meanwhile: a few sends during an outage would drain the API's pool.
 */
const REQUEST_DEADLINE_MS = 5_000;

export class TemporalTurnLauncher implements TurnLauncher {
  constructor(
    private readonly client: Client,
    private readonly taskQueue: string,
  ) {}

  async requestTurn(request: TurnRequest): Promise<void> {
    await this.withDeadline(() =>
      this.client.workflow.signalWithStart(chatWorkflow, {
        workflowId: chatWorkflowId(request.chatId),
        taskQueue: this.taskQueue,
        args: [{ chatId: request.chatId, turn: request.turn }],
        signal: turnRequestedSignal,
        signalArgs: [{ turn: request.turn }],
        typedSearchAttributes: pendingTurnSearchAttributes(request),
        staticSummary: `Chat ${request.chatId}, turn ${request.turn}`,
      }),
    );
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
