/**
 * The workspace tool set: file and process tools that act in the chat's workspace.
 * `createProvisioningTools` adds the workspace provisioning tools for root chats; sub-agent and MCP tools
 * are built elsewhere and added to the same registry.
 */
import type { ChatWorkspaces } from '../workspaces/chat-workspaces';
import { createCreateWorkspaceTool } from './create-workspace.tool';
import { createEditFilesTool } from './edit-files.tool';
import { createExecuteTool } from './execute.tool';
import { createListTemplatesTool } from './list-templates.tool';
import { createProcessListTool } from './process-list.tool';
import { createProcessOutputTool } from './process-output.tool';
import { createProcessSignalTool } from './process-signal.tool';
import { createReadFileTool } from './read-file.tool';
import { createReadTemplateTool } from './read-template.tool';
import { createStartWorkspaceTool } from './start-workspace.tool';
import type { AnyToolDefinition } from './types';
import { createWriteFileTool } from './write-file.tool';

export interface WorkspaceToolsOptions {
  /** Output budget of one tool result (execute, process_output, read_file). Default 32 KB. */
  maxOutputBytes?: number;
  /** Files larger than this are refused by read_file. Default 16 MiB. */
  maxReadFileBytes?: number;
}

/** Names of the workspace tools, in the order `createWorkspaceTools` returns them. */
export const WORKSPACE_TOOL_NAMES = [
  'read_file',
  'write_file',
  'edit_files',
  'execute',
  'process_output',
  'process_list',
  'process_signal',
] as const;

/** Creates the workspace tools, for root and sub-agent chats alike. */
export function createWorkspaceTools(options: WorkspaceToolsOptions = {}): AnyToolDefinition[] {
  const output = { maxOutputBytes: options.maxOutputBytes };
  return [
    createReadFileTool({ ...output, maxFileBytes: options.maxReadFileBytes }),
    createWriteFileTool(),
    createEditFilesTool(),
    createExecuteTool(output),
    createProcessOutputTool(output),
    createProcessListTool(),
    createProcessSignalTool(),
  ];
}

export interface ProvisioningToolsOptions {
  /** The worker's chat ↔ workspace mapping (one instance per worker). */
  workspaces: ChatWorkspaces;
}

/** Names of the workspace provisioning tools, in the order `createProvisioningTools` returns them. */
export const PROVISIONING_TOOL_NAMES = [
  'list_templates',
  'read_template',
  'create_workspace',
  'start_workspace',
] as const;

/**
 * Creates the workspace provisioning tools. Root chats only: sub-agent chats work in
 * the workspace they inherit and are never offered these.
 */
export function createProvisioningTools(options: ProvisioningToolsOptions): AnyToolDefinition[] {
  const { workspaces } = options;
  return [
    createListTemplatesTool({ listTemplates: () => workspaces.listTemplates() }),
    createReadTemplateTool({ getTemplate: (id) => workspaces.getTemplate(id) }),
    createCreateWorkspaceTool({ workspaces }),
    createStartWorkspaceTool({ workspaces }),
  ];
}

export { buildToolRegistry, executeToolCalls, INTERRUPTED_RESULT } from './registry';
export type { ExecuteToolCallsOptions, ToolCallRequest, ToolRegistry, ToolRegistryOptions } from './registry';
export { ToolInfrastructureError, toolError, toolResult } from './types';
export type { AnyToolDefinition, ToolContext, ToolDefinition, ToolOutput } from './types';
