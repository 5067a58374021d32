/**
 * Names of the sub-agent tools. They are executed by the turn workflow itself (a sub-agent is a
 * child workflow), not by the tool registry. Kept import-free: the workflow sandbox imports it.
 */
export const SUBAGENT_TOOL_NAMES = ['spawn_agent', 'wait_agent', 'message_agent', 'close_agent'] as const;
export type SubagentToolName = (typeof SUBAGENT_TOOL_NAMES)[number];

/** The same names as a set: the calls the workflow runs itself, which the tool step skips. */
export const SUBAGENT_TOOLS: ReadonlySet<string> = new Set(SUBAGENT_TOOL_NAMES);

/** Whether the workflow runs this tool call itself. */
export function isSubagentTool(name: string): name is SubagentToolName {
  return SUBAGENT_TOOLS.has(name);
}

/** Default and maximum time wait_agent waits for a sub-agent, in seconds. */
export const WAIT_AGENT_DEFAULT_SECONDS = 300;
export const WAIT_AGENT_MAX_SECONDS = 3600;
