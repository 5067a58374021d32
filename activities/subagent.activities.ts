/**
 * Sub-agent activities: the database side of spawn_agent, wait_agent, message_agent and
 * close_agent (src/turn/subagent-chats.ts). The workflow starts the child workflow and waits; these
 * only create, inspect and message chats, returning small summaries.
 */
import type { ChatServiceDeps } from '../src/chat/chat.service';
import {
  closeSubagent,
  messageSubagent,
  prepareWaitAgent,
  spawnSubagent,
  subagentState,
  type SubagentCall,
  type SubagentResult,
  type SubagentState,
} from '../src/turn/subagent-chats';

export function createSubagentActivities(deps: ChatServiceDeps) {
  return {
    async spawnSubagent(call: SubagentCall): ReturnType<typeof spawnSubagent> {
      return spawnSubagent(deps, call);
    },

    /** Resolves wait_agent's arguments and the child's current state. */
    async prepareWaitAgent(call: SubagentCall): ReturnType<typeof prepareWaitAgent> {
      return prepareWaitAgent(deps, call);
    },

    async getSubagentState(input: { chatId: string; childChatId: string }): Promise<SubagentState> {
      return subagentState(deps, input.chatId, input.childChatId);
    },

    async messageSubagent(call: SubagentCall): Promise<SubagentResult> {
      return messageSubagent(deps, call);
    },

    async closeSubagent(call: SubagentCall): Promise<SubagentResult> {
      return closeSubagent(deps, call);
    },
  };
}
