/**
 * Request and response schemas and route declarations of tool approval (docs/tool-approval.md): a chat's
 * approvals, the decision on a waiting call, and the admin's policy for the built-in tools.
 */
import { z } from 'zod';
import { toolApprovalSchema } from '../../stream/events';
import { PROVISIONING_TOOL_NAMES, WORKSPACE_TOOL_NAMES } from '../../tools/index';
import { defineRoute } from '../openapi';
import { plainText, uuidParam } from './common.schema';

/** The tools the admin's built-in policy may name (sub-agent tools never wait: they are not listed). */
export const BUILT_IN_TOOL_NAMES: readonly string[] = [...WORKSPACE_TOOL_NAMES, ...PROVISIONING_TOOL_NAMES];

const policy = z.enum(['auto', 'ask']);

export const toolCallParams = z.object({
  id: uuidParam('chat'),
  callId: z
    .string()
    .min(1)
    .max(256)
    .regex(/^[\x21-\x7e]+$/, 'Invalid tool call id.')
    .describe('The call id from `action_required` (or the tool-call part).'),
});

export const decisionBody = z
  .strictObject({
    decision: z
      .enum(['approve', 'deny', 'approve_always'])
      .describe('`approve_always` also runs this tool without asking for the rest of the chat.'),
    reason: plainText(2000, 'The reason')
      .optional()
      .describe('Why the call is denied; the model reads it. Only with `deny`.'),
  })
  .refine((b) => b.reason === undefined || b.decision === 'deny', 'A reason is only given with `deny`.');

export const listApprovalsQuery = z.object({
  pending: z
    .enum(['true', 'false'])
    .default('false')
    .transform((v) => v === 'true')
    .describe('Only the calls still waiting.'),
  limit: z.coerce.number().int().min(1).max(200).default(50),
});

export const builtInPolicySchema = z
  .strictObject({
    default: policy.describe('The policy of every built-in tool not named in `tools`.'),
    tools: z
      .record(
        z.string().refine((name) => BUILT_IN_TOOL_NAMES.includes(name), {
          message: `A built-in tool: one of ${BUILT_IN_TOOL_NAMES.join(', ')}.`,
        }),
        policy,
      )
      .describe('Exceptions by tool name.'),
  })
  .meta({ id: 'ToolApprovalPolicy' });

const tag = 'Tool approval';

export const toolApprovalsApi = {
  list: defineRoute({
    operationId: 'listToolApprovals',
    method: 'get',
    path: '/chats/:id/tool-approvals',
    summary: 'A chat’s tool approvals',
    description:
      'Newest first: the calls that waited (or wait) for a decision, with who decided, when, why and a hash of the ' +
      'arguments. A root chat’s list includes its sub-agents’ calls.',
    tag,
    access: 'user',
    schemas: { params: z.object({ id: uuidParam('chat') }), query: listApprovalsQuery },
    responses: {
      200: { description: 'The approvals.', schema: z.object({ approvals: z.array(toolApprovalSchema) }) },
    },
  }),
  decide: defineRoute({
    operationId: 'decideToolCall',
    method: 'post',
    path: '/chats/:id/tool-calls/:callId/decision',
    summary: 'Approve or deny a waiting tool call',
    description:
      'The running turn takes the decision at once: an approved call runs, a denied one is answered with the ' +
      'reason. Use the approval’s own `chat_id` (a sub-agent’s call is decided on the sub-agent chat).',
    tag,
    access: 'user',
    schemas: { params: toolCallParams, body: decisionBody },
    responses: {
      200: { description: 'The approval as decided.', schema: toolApprovalSchema },
      404: { description: '`tool_call_not_found`: no call of this chat waited for approval under that id.' },
      409: {
        description:
          '`tool_call_not_waiting`: decided already, expired, or its turn stopped; `details.decision` says how it ended.',
      },
    },
  }),
  getPolicy: defineRoute({
    operationId: 'getToolApprovalPolicy',
    method: 'get',
    path: '/admin/tool-approval-policy',
    summary: 'The approval policy of the built-in tools',
    tag,
    access: 'admin',
    schemas: {},
    responses: { 200: { description: 'The policy.', schema: builtInPolicySchema } },
  }),
  putPolicy: defineRoute({
    operationId: 'setToolApprovalPolicy',
    method: 'put',
    path: '/admin/tool-approval-policy',
    summary: 'Set the approval policy of the built-in tools',
    description:
      'MCP tools take their server’s policy (PUT /admin/mcp-servers/{id}). Chats may ask for more approvals, never ' +
      'fewer. Running turns apply a change from their next step.',
    tag,
    access: 'admin',
    schemas: { body: builtInPolicySchema },
    responses: { 200: { description: 'The stored policy.', schema: builtInPolicySchema } },
  }),
};
