/**
 * The `read_template` tool: one template's full description and the parameters create_workspace accepts
 * for it, so the model can fill them in.
 */
import { z } from 'zod';
import type { WorkspaceTemplate } from '../workspaces/types';
import { clipText } from './list-templates.tool';
import { toolError, toolResult, type ToolDefinition } from './types';

/** Longest parameter description shown, in characters (code points). */
export const PARAMETER_DESCRIPTION_MAX = 300;

export const ReadTemplateArgs = z.object({
  template_id: z.string().trim().min(1).describe('Id of the template, as list_templates returns it.'),
});
export type ReadTemplateArgs = z.infer<typeof ReadTemplateArgs>;

export interface ReadTemplateOptions {
  /** One template, null when unknown (`ChatWorkspaces.getTemplate`). Throws only infrastructure faults. */
  getTemplate(templateId: string): Promise<WorkspaceTemplate | null>;
}

/** Creates the `read_template` tool. */
export function createReadTemplateTool(options: ReadTemplateOptions): ToolDefinition<ReadTemplateArgs> {
  return {
    name: 'read_template',
    description: [
      "Show a workspace template's full description and the parameters create_workspace accepts for it: name,",
      'type, whether it is required, and its default. Use it after list_templates, before creating a workspace',
      'from a template that has parameters. Not needed for templates without parameters, nor once the chat has a',
      'workspace.',
    ].join(' '),
    args: ReadTemplateArgs,
    async execute(args) {
      const template = await options.getTemplate(args.template_id);
      if (!template) {
        return toolError(`Template "${args.template_id}" not found. Call list_templates to see the available ones.`);
      }
      return toolResult(templateView(template));
    },
  };
}

/** The template as the model sees it; parameter values are always passed as text. */
export function templateView(template: WorkspaceTemplate): Record<string, unknown> {
  const parameters = template.parameters.map((p) => ({
    name: p.name,
    type: p.type,
    required: p.required,
    description: clipText(p.description, PARAMETER_DESCRIPTION_MAX),
    ...(p.default !== undefined ? { default: p.default } : {}),
  }));
  const view: Record<string, unknown> = {
    id: template.id,
    name: template.name,
    display_name: template.displayName,
    description: template.description,
    parameters,
  };
  if (parameters.length === 0) view.note = 'This template takes no parameters.';
  return view;
}
