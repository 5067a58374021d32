/**
 * Which of a server's tools a chat is offered and whether their calls need the user's approval, from
 * the admin's configuration (docs/mcp.md "Tool lists and approval"). Pure.
 */
import type { ToolApprovalPolicy } from '../turn/chat-tools';
import type { McpServerConfig } from './types';

/**
 * Whether a tool (by the server's own name) is offered: a non-empty allow list names exactly the tools
 * offered; otherwise every tool is offered except those on the deny list.
 */
export function isToolOffered(config: Pick<McpServerConfig, 'toolAllowList' | 'toolDenyList'>, tool: string): boolean {
  if (config.toolAllowList.length > 0) return config.toolAllowList.includes(tool);
  return !config.toolDenyList.includes(tool);
}

/** A tool's approval policy: its own override, else the server's policy. */
export function toolApproval(
  config: Pick<McpServerConfig, 'approval' | 'toolApproval'>,
  tool: string,
): ToolApprovalPolicy {
  return Object.hasOwn(config.toolApproval, tool) ? config.toolApproval[tool]! : config.approval;
}
