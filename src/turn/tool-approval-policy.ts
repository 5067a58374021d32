/**
 * Whether a tool call runs at once or waits for the user (docs/tool-approval.md "Policy"). The admin sets
 * a policy per built-in tool (site config TOOL_APPROVAL_KEY) and per MCP server and tool (the server's
 * row); a chat may ask for more approvals, never fewer; a tool the user approved for the rest of the
 * chat runs at once. The calls the workflow runs itself (sub-agents) never wait: their own tool calls
 * are what the policy governs. Pure and import-light: the model step and the admin API share it.
 */
import { SUBAGENT_TOOLS } from '../tools/subagent-names';
import type { ToolApprovalPolicy } from './chat-tools';

/** site_configs key of the admin's policy for the built-in tools. */
export const TOOL_APPROVAL_KEY = 'tool_approval_policy';

/** A chat's `tool_approval_ask` entry that asks for every tool. */
export const ASK_EVERY_TOOL = '*';

/** The admin's policy for the built-in tools: one default, and exceptions by tool name. */
export interface BuiltInApprovalPolicy {
  default: ToolApprovalPolicy;
  tools: Record<string, ToolApprovalPolicy>;
}

export const DEFAULT_BUILT_IN_POLICY: BuiltInApprovalPolicy = { default: 'auto', tools: {} };

const isPolicy = (value: unknown): value is ToolApprovalPolicy => value === 'auto' || value === 'ask';

/** A stored policy value as a policy; anything malformed reads as the default (every tool `auto`). */
export function asBuiltInPolicy(value: unknown): BuiltInApprovalPolicy {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return DEFAULT_BUILT_IN_POLICY;
  const raw = value as { default?: unknown; tools?: unknown };
  const tools: Record<string, ToolApprovalPolicy> = {};
  if (raw.tools !== null && typeof raw.tools === 'object' && !Array.isArray(raw.tools)) {
    for (const [name, policy] of Object.entries(raw.tools)) if (isPolicy(policy)) tools[name] = policy;
  }
  return { default: isPolicy(raw.default) ? raw.default : 'auto', tools };
}

/** The admin's policy for one built-in tool. */
export const builtInApproval = (policy: BuiltInApprovalPolicy, name: string): ToolApprovalPolicy =>
  Object.hasOwn(policy.tools, name) ? policy.tools[name]! : policy.default;

/** What a chat adds to the admin's policy. */
export interface ChatApprovalSettings {
  /** Tool names (or ASK_EVERY_TOOL) this chat asks about beyond the admin's policy. */
  tool_approval_ask: readonly string[];
  /** Tools the user approved for the rest of the chat. */
  tool_approval_granted: readonly string[];
}

/**
 * The policy of one call: `configured` is the admin's (the MCP server's for external tools, the
 * built-in policy otherwise), which the chat may only tighten; a tool granted for the chat runs at once.
 */
export function effectiveApproval(
  name: string,
  configured: ToolApprovalPolicy,
  chat: ChatApprovalSettings,
): ToolApprovalPolicy {
  if (SUBAGENT_TOOLS.has(name)) return 'auto';
  if (chat.tool_approval_granted.includes(name)) return 'auto';
  if (configured === 'ask') return 'ask';
  const asks = chat.tool_approval_ask.includes(ASK_EVERY_TOOL) || chat.tool_approval_ask.includes(name);
  return asks ? 'ask' : 'auto';
}
