/**
 * Request and response schemas and route declarations of /usage-limits: the admin's spend limit setting
 * and per-user and per-group limits, and every user's own status (README "Spend limits and cost").
 */
import { z } from 'zod';
import { defineRoute } from '../openapi';
import { idParams, timestamp } from './common.schema';

const micros = z
  .number()
  .int('spend_limit_micros must be an integer (micro-dollars).')
  .positive('Spend limit must be greater than 0.')
  .max(Number.MAX_SAFE_INTEGER, 'spend_limit_micros is too large.');

const period = z
  .enum(['day', 'week', 'month'], { message: 'period must be day, week or month.' })
  .describe('UTC calendar days, weeks starting Monday, or calendar months.');

export const putUsageLimitsBody = z.strictObject({
  enabled: z.boolean().describe('Off: nobody is limited, whatever the limits below say.'),
  period,
  spend_limit_micros: micros
    .nullable()
    .optional()
    .describe(
      'The default limit per period in micro-dollars; null or absent: only users with a limit of their own or a group’s are limited.',
    ),
});

export const putLimitBody = z.strictObject({
  spend_limit_micros: micros.describe('The limit per period in micro-dollars.'),
});

export const userLimitSchema = z
  .object({
    user_id: z.uuid(),
    username: z.string(),
    name: z.string(),
    spend_limit_micros: z.number().int(),
  })
  .meta({ id: 'UserUsageLimit' });

export const groupLimitSchema = z
  .object({
    group_id: z.uuid(),
    group_name: z.string(),
    group_display_name: z.string(),
    member_count: z.number().int(),
    spend_limit_micros: z.number().int(),
  })
  .meta({ id: 'GroupUsageLimit' });

export const usageLimitsSchema = z
  .object({
    enabled: z.boolean(),
    period,
    spend_limit_micros: z.number().int().nullable().describe('The default limit; null: none.'),
    updated_at: timestamp.nullable().describe('Null while the setting was never saved.'),
    unpriced_model_count: z.number().int().describe('Live model configs without prices (their calls count nothing).'),
    overrides: z
      .array(userLimitSchema)
      .describe('Users with a limit of their own (it wins over groups and the default).'),
    group_overrides: z.array(groupLimitSchema).describe('Groups with a limit (the lowest of a user’s groups applies).'),
  })
  .meta({ id: 'UsageLimits' });

export const usageStatusSchema = z
  .object({
    is_limited: z.boolean(),
    period: period.nullable(),
    spend_limit_micros: z.number().int().nullable(),
    limit_source: z.enum(['user', 'group', 'default']).nullable().describe('Where the limit comes from.'),
    current_spend: z
      .number()
      .int()
      .describe('Micro-dollars spent in the current period (of the setting, when unlimited).'),
    period_start: timestamp.nullable(),
    period_end: timestamp.nullable().describe('When the spend resets.'),
  })
  .meta({ id: 'UsageStatus' });

export const userLimitParams = idParams('user');
export const groupLimitParams = idParams('group');

const tag = 'Usage limits';

/** The /usage-limits routes. */
export const usageLimitsApi = {
  status: defineRoute({
    operationId: 'getUsageStatus',
    method: 'get',
    path: '/usage-limits/status',
    summary: 'Your spend limit and spend',
    description:
      'The limit that applies to you (your own, else the lowest of your groups’, else the default) and what your ' +
      'chats cost in the current period, sub-agents, titles and compaction included.',
    tag,
    access: 'user',
    schemas: {},
    responses: { 200: { description: 'The caller’s status.', schema: usageStatusSchema } },
  }),
  get: defineRoute({
    operationId: 'getUsageLimits',
    method: 'get',
    path: '/usage-limits',
    summary: 'The spend limit setting and every limit',
    tag,
    access: 'admin',
    schemas: {},
    responses: { 200: { description: 'The setting, user and group limits.', schema: usageLimitsSchema } },
  }),
  put: defineRoute({
    operationId: 'setUsageLimits',
    method: 'put',
    path: '/usage-limits',
    summary: 'Set the spend limit setting',
    description: 'Running turns apply it at their next model call.',
    tag,
    access: 'admin',
    schemas: { body: putUsageLimitsBody },
    responses: { 200: { description: 'The saved setting and every limit.', schema: usageLimitsSchema } },
  }),
  putUser: defineRoute({
    operationId: 'setUserUsageLimit',
    method: 'put',
    path: '/usage-limits/users/:id',
    summary: 'Set a user’s own spend limit',
    tag,
    access: 'admin',
    schemas: { params: userLimitParams, body: putLimitBody },
    responses: {
      200: { description: 'The user’s limit.', schema: userLimitSchema },
      404: { description: 'No such user (`user_not_found`).' },
    },
  }),
  deleteUser: defineRoute({
    operationId: 'deleteUserUsageLimit',
    method: 'delete',
    path: '/usage-limits/users/:id',
    summary: 'Remove a user’s own spend limit',
    tag,
    access: 'admin',
    schemas: { params: userLimitParams },
    responses: {
      204: { description: 'The user has no limit of their own (also when they had none).' },
      404: { description: 'No such user (`user_not_found`).' },
    },
  }),
  putGroup: defineRoute({
    operationId: 'setGroupUsageLimit',
    method: 'put',
    path: '/usage-limits/groups/:id',
    summary: 'Set a group’s spend limit',
    tag,
    access: 'admin',
    schemas: { params: groupLimitParams, body: putLimitBody },
    responses: {
      200: { description: 'The group’s limit.', schema: groupLimitSchema },
      404: { description: 'No such group (`group_not_found`).' },
    },
  }),
  deleteGroup: defineRoute({
    operationId: 'deleteGroupUsageLimit',
    method: 'delete',
    path: '/usage-limits/groups/:id',
    summary: 'Remove a group’s spend limit',
    tag,
    access: 'admin',
    schemas: { params: groupLimitParams },
    responses: {
      204: { description: 'The group has no limit (also when it had none).' },
      404: { description: 'No such group (`group_not_found`).' },
    },
  }),
};
