/**
 * The `list_templates` tool: the templates a workspace can be built from, with short descriptions, so the
 * model can pick one for create_workspace; an optional query narrows the list by name.
 */
import { z } from 'zod';
import type { WorkspaceTemplate } from '../workspaces/types';
import { toolResult, type ToolDefinition } from './types';

/** Longest template description in a listing, in characters (code points). */
export const LIST_DESCRIPTION_MAX = 200;

export const ListTemplatesArgs = z.object({
  query: z
    .string()
    .trim()
    .max(200)
    .optional()
    .describe('Optional filter: only templates whose id or name contains every word of it (case-insensitive).'),
});
export type ListTemplatesArgs = z.infer<typeof ListTemplatesArgs>;

export interface ListTemplatesOptions {
  /** The templates on offer (`ChatWorkspaces.listTemplates`). Throws only infrastructure faults. */
  listTemplates(): Promise<WorkspaceTemplate[]>;
}

/** Creates the `list_templates` tool. */
export function createListTemplatesTool(options: ListTemplatesOptions): ToolDefinition<ListTemplatesArgs> {
  return {
    name: 'list_templates',
    description: [
      'List the templates a workspace can be created from, with their ids, names and short descriptions.',
      'Use it before create_workspace to choose a template; pass query to narrow the list by name. Then call',
      'read_template for a template with parameters. Not needed when the chat already has a workspace: the file',
      'and execute tools work in it directly.',
    ].join(' '),
    args: ListTemplatesArgs,
    async execute(args) {
      const all = await options.listTemplates();
      const matching = args.query ? all.filter((t) => matchesQuery(t, args.query!)) : all;
      const templates = matching.map((t) => ({
        id: t.id,
        name: t.name,
        display_name: t.displayName,
        description: clipText(t.description, LIST_DESCRIPTION_MAX),
        parameter_count: t.parameters.length,
      }));
      const result: Record<string, unknown> = { templates, count: templates.length };
      if (templates.length === 0) {
        result.note = args.query
          ? `No template matches "${args.query}"; call list_templates without a query to see all ${all.length}.`
          : 'No templates are configured, so no workspace can be created.';
      }
      return toolResult(result);
    },
  };
}

/**
 * Whether every word of `query` occurs in the template's id, name or display name. Case and punctuation
 * are ignored within a word, so "nodejs" and "node.js" both find "Node.js".
 */
export function matchesQuery(template: WorkspaceTemplate, query: string): boolean {
  const fields = [template.id, template.name, template.displayName].map(normalize);
  const words = query.split(/\s+/).map(normalize).filter(Boolean);
  return words.every((word) => fields.some((field) => field.includes(word)));
}

/** `text` cut to at most `max` characters (code points, never a split surrogate pair), "…" marking a cut. */
export function clipText(text: string, max: number): string {
  const chars = [...text];
  if (chars.length <= max) return text;
  const kept = chars
    .slice(0, max - 1)
    .join('')
    .trimEnd();
  return `${kept}…`;
}

const normalize = (text: string): string => text.toLowerCase().replace(/[^\p{L}\p{N}]+/gu, '');
