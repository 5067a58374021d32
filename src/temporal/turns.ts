/**
 * Starting and steering turns from the API side. A turn is requested with signal-with-start: if
 * the chat's workflow is still open (closing its previous turn) the signal tells it to continue
 * as the new turn; otherwise a new run starts. Temporal's workflow id keeps one turn per chat.
 */
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { chatWorkflow } from '../../workflows';
import { interruptSignal, subagentFinishedSignal, turnRequestedSignal } from '../../workflows/messages';
import { pendingTurnSearchAttributes } from './search-attributes';
import { chatWorkflowId } from './workflow-ids';
import type { TurnLauncher, TurnRequest } from '../chat/turn-launcher';
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
