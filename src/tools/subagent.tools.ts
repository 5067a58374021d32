/**
 * Argument schemas and model-facing descriptions of the sub-agent tools (their names are in
 * subagent-names.ts). Only the specs live here: the workflow runs these calls (spawn = child
 * workflow, wait = durable timer race), through the activities in activities/subagent.activities.ts.
 */
import { z } from 'zod';
import type { ToolSpec } from '../llm/types';
import { WAIT_AGENT_DEFAULT_SECONDS, WAIT_AGENT_MAX_SECONDS, type SubagentToolName } from './subagent-names';

export const SpawnAgentArgs = z.strictObject({
  prompt: z.string().min(1).max(100_000).describe('The complete task for the sub-agent, with all context it needs.'),
  title: z.string().max(80).optional().describe('A short title for the sub-agent chat.'),
});

export const WaitAgentArgs = z.strictObject({
  chat_id: z.uuid().describe('The sub-agent chat id returned by spawn_agent.'),
  timeout_seconds: z
    .number()
    .int()
    .min(1)
    .max(WAIT_AGENT_MAX_SECONDS)
    .optional()
    .describe(`How long to wait; default ${WAIT_AGENT_DEFAULT_SECONDS}.`),
});

export const MessageAgentArgs = z.strictObject({
  chat_id: z.uuid(),
  message: z.string().min(1).max(100_000).describe('The follow-up instruction for the sub-agent.'),
});

export const CloseAgentArgs = z.strictObject({ chat_id: z.uuid() });

const spec = (name: SubagentToolName, description: string, args: z.ZodType): ToolSpec => {
  const { $schema: _schema, ...inputSchema } = z.toJSONSchema(args) as Record<string, unknown>;
  return { name, description, inputSchema };
};

/** The sub-agent tools offered to root chats (sub-agents cannot spawn sub-agents: depth 1). */
export function subagentToolSpecs(): ToolSpec[] {
  return [
    spec(
      'spawn_agent',
      'Start a sub-agent that works on a self-contained task in parallel, in its own chat. Use it for work that ' +
        'can proceed independently (investigating one module, writing one test suite); give it the full task, ' +
        'because it does not see this conversation. Do not use it for quick questions you can answer yourself. ' +
        'Returns the sub-agent chat id; collect its answer with wait_agent.',
      SpawnAgentArgs,
    ),
    spec(
      'wait_agent',
      'Wait until a sub-agent you started finishes its current task and return its final answer. Returns early ' +
        'with status "running" when the timeout passes first; you may then wait again or do other work.',
      WaitAgentArgs,
    ),
    spec(
      'message_agent',
      'Send a follow-up instruction to one of your sub-agents. If it is busy, its current work is interrupted ' +
        'and it continues with this message.',
      MessageAgentArgs,
    ),
    spec(
      'close_agent',
      'Stop a sub-agent you no longer need. Its chat and partial work are kept; it will not continue on its own.',
      CloseAgentArgs,
    ),
  ];
}
