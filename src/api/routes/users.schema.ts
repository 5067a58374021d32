/**
 * Request and response schemas and route declarations of the identity routes: users, API tokens
 * and groups. Everything but `/users/me` and revoking one's own token is admin-only.
 */
import { z } from 'zod';
import { defineRoute } from '../openapi';
import { idParams, plainText, timestamp, uuidParam } from './common.schema';

const USERNAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$/;

const role = z.enum(['admin', 'member']).describe('`admin` manages the deployment; `member` uses chats.');

export const createUserBody = z.strictObject({
  username: z
    .string()
    .regex(USERNAME, 'Usernames are 1–63 letters, digits, `_`, `.` or `-`, starting with a letter or digit.')
    .describe('Unique login name.'),
  name: plainText(200, 'The name').optional().describe('Display name.'),
  role,
});

export const createTokenBody = z.strictObject({
  name: plainText(200, 'The token name').optional().describe('A label to recognise the token by.'),
  expires_at: z.iso
    .datetime({ offset: true, message: 'expires_at must be an ISO-8601 timestamp.' })
    .transform((value) => new Date(value))
    .optional()
    .describe('When the token stops working; it never expires when omitted. Must be in the future.'),
});

export const createGroupBody = z.strictObject({
  name: z
    .string()
    .regex(USERNAME, 'Group names are 1–63 letters, digits, `_`, `.` or `-`, starting with a letter or digit.')
    .describe('Unique group name.'),
  display_name: plainText(200, 'The display name').optional(),
});

export const userIdParams = idParams('user');
export const tokenIdParams = idParams('token');
export const groupMemberParams = z.object({
  id: uuidParam('group').describe('The group id.'),
  userId: uuidParam('user').describe('The user id.'),
});

export const userSchema = z
  .object({
    id: z.uuid(),
    username: z.string(),
    name: z.string(),
    role,
    created_at: timestamp,
    updated_at: timestamp,
  })
  .meta({ id: 'User' });

export const createdTokenSchema = z
  .object({
    id: z.uuid().describe('Token id, for revocation.'),
    user_id: z.uuid(),
    name: z.string(),
    token: z.string().describe('The secret. Shown only in this response; store it now.'),
    created_at: timestamp,
    expires_at: timestamp.nullable(),
  })
  .meta({ id: 'ApiToken' });

export const groupSchema = z
  .object({
    id: z.uuid(),
    name: z.string(),
    display_name: z.string(),
    created_at: timestamp,
    updated_at: timestamp,
  })
  .meta({ id: 'Group' });

const tag = 'Users';

/** The identity routes. */
export const usersApi = {
  me: defineRoute({
    operationId: 'getCurrentUser',
    method: 'get',
    path: '/users/me',
    summary: 'The authenticated user',
    tag,
    access: 'user',
    schemas: {},
    responses: { 200: { description: 'The caller.', schema: userSchema } },
  }),
  create: defineRoute({
    operationId: 'createUser',
    method: 'post',
    path: '/users',
    summary: 'Create a user',
    tag,
    access: 'admin',
    schemas: { body: createUserBody },
    responses: {
      201: { description: 'The new user.', schema: userSchema },
      409: { description: 'The username is taken (`username_taken`).' },
    },
  }),
  list: defineRoute({
    operationId: 'listUsers',
    method: 'get',
    path: '/users',
    summary: 'List users',
    tag,
    access: 'admin',
    schemas: {},
    responses: { 200: { description: 'Every user, by username.', schema: z.array(userSchema) } },
  }),
  createToken: defineRoute({
    operationId: 'createApiToken',
    method: 'post',
    path: '/users/:id/tokens',
    summary: 'Issue an API token for a user',
    description: 'The token is returned once and stored only as a digest.',
    tag,
    access: 'admin',
    schemas: { params: userIdParams, body: createTokenBody },
    responses: { 201: { description: 'The token (shown once) and its id.', schema: createdTokenSchema } },
  }),
  revokeToken: defineRoute({
    operationId: 'revokeApiToken',
    method: 'delete',
    path: '/tokens/:id',
    summary: 'Revoke an API token',
    description:
      'Takes effect on the next request. Admins may revoke any token; members only their own (others are 404).',
    tag,
    access: 'user',
    schemas: { params: tokenIdParams },
    responses: { 204: { description: 'Revoked (also when it already was).' } },
  }),
  createGroup: defineRoute({
    operationId: 'createGroup',
    method: 'post',
    path: '/groups',
    summary: 'Create a group',
    tag,
    access: 'admin',
    schemas: { body: createGroupBody },
    responses: {
      201: { description: 'The new group.', schema: groupSchema },
      409: { description: 'The name is taken (`group_exists`).' },
    },
  }),
  addMember: defineRoute({
    operationId: 'addGroupMember',
    method: 'put',
    path: '/groups/:id/members/:userId',
    summary: 'Add a user to a group',
    tag,
    access: 'admin',
    schemas: { params: groupMemberParams },
    responses: { 204: { description: 'The user is a member (idempotent).' } },
  }),
  removeMember: defineRoute({
    operationId: 'removeGroupMember',
    method: 'delete',
    path: '/groups/:id/members/:userId',
    summary: 'Remove a user from a group',
    tag,
    access: 'admin',
    schemas: { params: groupMemberParams },
    responses: { 204: { description: 'The user is not a member (idempotent).' } },
  }),
};
