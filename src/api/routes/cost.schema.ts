/**
 * Request and response schemas and route declarations of /cost: what chats cost over a window, for the
 * caller (or, for admins, any user or everyone), and the admin's per-user roll-up.
 */
import { z } from 'zod';
import { defineRoute } from '../openapi';
import { plainText, timestamp } from './common.schema';

/** A date (`YYYY-MM-DD`, midnight UTC) or an ISO-8601 timestamp with an offset (`Z` in a URL: `+` reads as a space). */
const dateParam = (what: string) =>
  z
    .union([z.iso.date(), z.iso.datetime({ offset: true })], {
      message: `${what} must be a date (YYYY-MM-DD) or an ISO-8601 timestamp.`,
    })
    .transform((value) => new Date(value.length === 10 ? `${value}T00:00:00Z` : value));

const window = {
  start_date: dateParam('start_date')
    .optional()
    .describe('Start of the window (inclusive); default: 30 days before its end.'),
  end_date: dateParam('end_date').optional().describe('End of the window (exclusive); default: now.'),
};

export const costSummaryQuery = z.object(window);

export const costUsersQuery = z.object({
  ...window,
  username: plainText(200, 'username')
    .min(1, 'username must not be empty.')
    .optional()
    .describe('Only usernames containing this (case-insensitive).'),
  limit: z.coerce.number().int().min(1).max(200).default(50),
  offset: z.coerce.number().int().min(0).max(1_000_000).default(0),
});

export const costSummaryParams = z.object({
  user: z
    .union([z.literal('me'), z.literal('all'), z.uuid()], { message: 'user must be me, all or a user id.' })
    .describe('`me`, a user id (another user’s: admins only), or `all` (admins only).'),
});

const totals = {
  total_cost_micros: z.number().int().describe('Micro-dollars.'),
  priced_message_count: z.number().int().describe('Assistant messages with a cost above zero.'),
  unpriced_message_count: z.number().int().describe('Assistant messages without a cost, or of cost zero.'),
  side_call_count: z.number().int().describe('Title and compaction calls (their cost is in the totals).'),
  total_input_tokens: z.number().int(),
  total_output_tokens: z.number().int(),
  total_reasoning_tokens: z.number().int(),
  total_cache_read_tokens: z.number().int(),
  total_cache_creation_tokens: z.number().int(),
};

export const modelCostSchema = z.object({
  model_config_id: z.uuid().nullable().describe('Null for side calls on a model no config priced.'),
  display_name: z.string(),
  provider: z.string().nullable(),
  model: z.string(),
  deleted: z.boolean().describe('The model config was deleted since; its costs stay.'),
  ...totals,
});

export const chatCostSchema = z.object({
  root_chat_id: z.uuid().describe('The top-level chat; its sub-agents’ costs are included.'),
  chat_title: z.string().nullable(),
  ...totals,
});

export const costSummarySchema = z
  .object({
    user_id: z.uuid().nullable().describe('Whose chats; null for everyone’s.'),
    start_date: timestamp,
    end_date: timestamp,
    ...totals,
    chat_count: z.number().int().describe('Root chats with costs in the window.'),
    by_model: z.array(modelCostSchema),
    by_chat: z.array(chatCostSchema).describe('The 100 costliest root chats.'),
  })
  .meta({ id: 'CostSummary' });

export const userCostSchema = z.object({
  user_id: z.uuid(),
  username: z.string(),
  name: z.string(),
  message_count: z.number().int(),
  chat_count: z.number().int(),
  ...totals,
});

export const costUsersSchema = z
  .object({
    start_date: timestamp,
    end_date: timestamp,
    count: z.number().int().describe('Users matching the filter, over all pages.'),
    users: z.array(userCostSchema),
  })
  .meta({ id: 'CostByUser' });

const tag = 'Cost';

/** The /cost routes. */
export const costApi = {
  users: defineRoute({
    operationId: 'getCostByUser',
    method: 'get',
    path: '/cost/users',
    summary: 'Every user’s cost',
    description:
      'Users whose chats cost (or called a model) in the window, costliest first, then by username; paginated ' +
      'with `limit` and `offset`.',
    tag,
    access: 'admin',
    schemas: { query: costUsersQuery },
    responses: { 200: { description: 'One page of users.', schema: costUsersSchema } },
  }),
  summary: defineRoute({
    operationId: 'getCostSummary',
    method: 'get',
    path: '/cost/:user/summary',
    summary: 'A cost summary',
    description:
      'What the chats cost in the window: assistant messages (of edited-away turns too) and title and ' +
      'compaction calls, in total, per model config and per root chat (sub-agents included). Members may ask ' +
      'only about themselves (another user is a 404, `all` a 403).',
    tag,
    access: 'user',
    schemas: { params: costSummaryParams, query: costSummaryQuery },
    responses: { 200: { description: 'The summary.', schema: costSummarySchema } },
  }),
};
