/**
 * Sub-agent activities: the database side of spawn_agent, wait_agent, message_agent and
 * close_agent (src/chat/subagents.ts). The workflow starts the child workflow and waits; these
 * only create, inspect and message chats, returning small summaries.
 */
import type { z } from 'zod';
import type { ChatServiceDeps } from '../src/chat/chat.service';
import {
  closeSubagent,
  messageSubagent,
  spawnSubagent,
  subagentState,
  type SpawnedChild,
  type SubagentCall,
  type SubagentResult,
  type SubagentState,
} from '../src/chat/subagents';
import { findMessageByStepKey } from '../src/db/repositories/messages.repository';
import { decodeParts } from '../src/chat/message-parts';
import { stepKey } from '../src/chat/turn-runner';
import { CloseAgentArgs, WaitAgentArgs } from '../src/tools/subagent.tools';
import { WAIT_AGENT_DEFAULT_SECONDS } from '../src/tools/subagent-names';

async function argsOf<T extends z.ZodType>(
  deps: ChatServiceDeps,
  call: SubagentCall,
  schema: T,
): Promise<z.infer<T> | null> {
  const message = await findMessageByStepKey(deps.db, call.chatId, stepKey(call.turn, call.step, 'assistant'));
  const part =
    message && decodeParts(message.content).find((p) => p.type === 'tool-call' && p.tool_call_id === call.callId);
  const parsed = schema.safeParse(part?.args);
  return parsed.success ? parsed.data : null;
}

export function createSubagentActivities(deps: ChatServiceDeps) {
  return {
    async spawnSubagent(call: SubagentCall): Promise<{ child: SpawnedChild } | { error: SubagentResult }> {
      return spawnSubagent(deps, call);
    },

    /** Resolves wait_agent's arguments and the child's current state. */
    async prepareWaitAgent(
      call: SubagentCall,
    ): Promise<{ childChatId: string; timeoutSeconds: number; state: SubagentState } | { error: SubagentResult }> {
      const args = await argsOf(deps, call, WaitAgentArgs);
      if (!args)
        return {
          error: { result: { error: 'Invalid arguments: chat_id must be a sub-agent chat id.' }, isError: true },
        };
      const state = await subagentState(deps, call.chatId, args.chat_id);
      if (!state.found) {
        return { error: { result: { error: 'No sub-agent with that chat id belongs to this chat.' }, isError: true } };
      }
      return { childChatId: args.chat_id, timeoutSeconds: args.timeout_seconds ?? WAIT_AGENT_DEFAULT_SECONDS, state };
    },

    async getSubagentState(input: { chatId: string; childChatId: string }): Promise<SubagentState> {
      return subagentState(deps, input.chatId, input.childChatId);
    },

    async messageSubagent(call: SubagentCall): Promise<SubagentResult> {
      return messageSubagent(deps, call);
    },

    async closeSubagent(call: SubagentCall): Promise<SubagentResult> {
      const args = await argsOf(deps, call, CloseAgentArgs);
      if (!args) return { result: { error: 'Invalid arguments: chat_id must be a sub-agent chat id.' }, isError: true };
      return closeSubagent(deps, call.chatId, args.chat_id);
    },
  };
}
