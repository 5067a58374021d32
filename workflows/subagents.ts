/**
 * The sub-agent tools as the turn workflow runs them. spawn_agent creates the child
 * chat (activity) and starts its turn as a child workflow that outlives this turn (ABANDON);
 * wait_agent waits for the child's "finished" signal racing a durable timer (no polling);
 * message_agent and close_agent act through activities. Results are small and persisted in call order.
 */
import { CancellationScope, condition, ParentClosePolicy, startChild } from '@temporalio/workflow';
import type { ToolCallSummary } from '../src/turn/model-step';
import type { SubagentResult, SubagentState } from '../src/turn/subagent-chats';
import { pendingTurnSearchAttributes } from '../src/temporal/search-attributes';
import { chatWorkflowId } from '../src/temporal/workflow-ids';
import { isSubagentTool } from '../src/tools/subagent-names';
import { subagentChats, toolResults } from './activity-proxies';
import type { ChatTurnInput } from './messages';

const interrupted = { result: { error: 'The tool call was interrupted.' }, isError: true };

export class SubagentCalls {
  /** How many times each child reported a finished turn during this run. */
  private readonly finished = new Map<string, number>();

  constructor(private readonly input: ChatTurnInput) {}

  onFinished(chatId: string): void {
    this.finished.set(chatId, (this.finished.get(chatId) ?? 0) + 1);
  }

  /** Runs the step's sub-agent calls concurrently and persists their results in call order. */
  async run(step: number, calls: ToolCallSummary[]): Promise<void> {
    const results: Array<SubagentResult | undefined> = new Array(calls.length).fill(undefined);
    try {
      await Promise.all(
        calls.map(async (call, i) => {
          results[i] = await this.runOne(step, call);
        }),
      );
    } finally {
      // Interrupted or not, every call gets a stored result, so history never has a dangling call.
      await CancellationScope.nonCancellable(() =>
        toolResults('Store sub-agent tool results').persistToolResults({
          chatId: this.input.chatId,
          turn: this.input.turn,
          step,
          results: calls.map((call, i) => ({ callId: call.id, name: call.name, ...(results[i] ?? interrupted) })),
        }),
      );
    }
  }

  private async runOne(step: number, call: ToolCallSummary): Promise<SubagentResult> {
    const ref = { chatId: this.input.chatId, turn: this.input.turn, step, callId: call.id };
    if (!isSubagentTool(call.name)) return { result: { error: `Unknown tool ${call.name}.` }, isError: true };
    switch (call.name) {
      case 'spawn_agent': {
        const spawned = await subagentChats('Create sub-agent chat').spawnSubagent(ref);
        if ('error' in spawned) return spawned.error;
        const { child } = spawned;
        try {
          await startChild('chatWorkflow', {
            workflowId: chatWorkflowId(child.chatId),
            args: [{ chatId: child.chatId, turn: 1 }],
            parentClosePolicy: ParentClosePolicy.ABANDON,
            staticSummary: `Sub-agent of chat ${this.input.chatId}`,
            typedSearchAttributes: pendingTurnSearchAttributes(child),
          });
        } catch (err) {
          if ((err as Error).name !== 'WorkflowExecutionAlreadyStartedError') throw err;
        }
        return { result: { chat_id: child.chatId, status: 'started' }, isError: false };
      }
      case 'wait_agent': {
        // Counted before the state is read, so a "finished" signal that races the read still wakes us.
        const seenBefore = new Map(this.finished);
        const prepared = await subagentChats('Check sub-agent').prepareWaitAgent(ref);
        if ('error' in prepared) return prepared.error;
        if (prepared.state.done) return stateResult(prepared.childChatId, prepared.state);
        const seen = seenBefore.get(prepared.childChatId) ?? 0;
        const finished = await condition(
          () => (this.finished.get(prepared.childChatId) ?? 0) > seen,
          prepared.timeoutSeconds * 1000,
        );
        const state = await subagentChats('Read sub-agent answer').getSubagentState({
          chatId: this.input.chatId,
          childChatId: prepared.childChatId,
        });
        if (!finished && !state.done) {
          return { result: { chat_id: prepared.childChatId, status: 'running', timed_out: true }, isError: false };
        }
        return stateResult(prepared.childChatId, state);
      }
      case 'message_agent':
        return subagentChats('Message sub-agent').messageSubagent(ref);
      case 'close_agent':
        return subagentChats('Close sub-agent').closeSubagent(ref);
    }
  }
}

function stateResult(chatId: string, state: SubagentState): SubagentResult {
  return {
    result: {
      chat_id: chatId,
      status: state.status,
      answer: state.answer,
      ...(state.error ? { error: state.error } : {}),
    },
    isError: state.status === 'error',
  };
}
