/**
 * Route declarations of /workspaces: the caller's workspaces, as recorded by the workers that run
 * them (the API process does not reach workspace hosts, so `status` is the last one recorded).
 */
import { z } from 'zod';
import { defineRoute } from '../openapi';
import { timestamp } from './common.schema';

export const workspaceSchema = z
  .object({
    id: z.uuid().describe('The id POST /chats takes as `workspace_id`.'),
    name: z.string(),
    template_id: z.string(),
    status: z.enum(['running', 'stopped']).describe('As last recorded by the worker that runs it.'),
    created_at: timestamp,
    last_used_at: timestamp
      .nullable()
      .describe('When a chat’s tools last ran in it (updated at most once a minute); null when never.'),
  })
  .meta({ id: 'Workspace' });

const tag = 'Workspaces';

/** The workspace routes. */
export const workspacesApi = {
  list: defineRoute({
    operationId: 'listWorkspaces',
    method: 'get',
    path: '/workspaces',
    summary: 'List the caller’s workspaces',
    description: 'The caller’s workspaces that are not deleted, newest first.',
    tag,
    access: 'user',
    schemas: {},
    responses: {
      200: { description: '`{workspaces}`.', schema: z.object({ workspaces: z.array(workspaceSchema) }) },
    },
  }),
};
