/**
 * Request and response schemas and route declarations of the MCP server routes (docs/mcp.md): admin
 * configuration under /admin/mcp-servers, the member's list, and the per-user OAuth connection with its
 * public callback. Secrets are write-only: no response schema has a field for them.
 */
import { z } from 'zod';
import { SLUG_PATTERN } from '../../mcp/names';
import { defineRoute } from '../openapi';
import { idParams, plainText, timestamp } from './common.schema';

const httpUrl = (what: string) =>
  z
    .url({ protocol: /^https?$/, message: `${what} must be an http(s) URL.` })
    .max(2048)
    .refine((s) => !s.includes('\u0000'), `${what} must not contain NUL characters.`);

/** Headers the transport itself sets; configuring them would break the protocol. */
const RESERVED_HEADERS = new Set([
  'accept',
  'connection',
  'content-length',
  'content-type',
  'host',
  'last-event-id',
  'mcp-protocol-version',
  'mcp-session-id',
  'transfer-encoding',
]);

const headerName = z
  .string()
  .regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}$/, 'A header name is 1–100 characters of an HTTP token.')
  .refine((name) => !RESERVED_HEADERS.has(name.toLowerCase()), 'This header is set by the MCP transport itself.');

const headerValue = z
  .string()
  .min(1, 'A header value must not be empty.')
  .max(8192)
  .refine(
    (value) => !value.includes('\r') && !value.includes('\n') && !value.includes('\u0000'),
    'A header value must not contain line breaks or NUL.',
  );

const toolName = plainText(128, 'A tool name').min(1, 'A tool name must not be empty.');
const approval = z.enum(['auto', 'ask']).describe('`auto`: calls run at once; `ask`: each call waits for approval.');

const authSchema = z
  .discriminatedUnion('type', [
    z.strictObject({ type: z.literal('none') }),
    z.strictObject({
      type: z.literal('api_key'),
      header: headerName.optional().describe('The header the key is sent in; default `Authorization`.'),
      value: headerValue
        .optional()
        .describe('The header’s value, sent as it is (e.g. `Bearer …`). Required on create; write-only.'),
    }),
    z.strictObject({
      type: z.literal('headers'),
      headers: z
        .record(headerName, headerValue)
        .refine((h) => Object.keys(h).length >= 1 && Object.keys(h).length <= 20, 'Give 1 to 20 headers.')
        .describe('Custom headers sent with every request; values are write-only.'),
    }),
    z.strictObject({
      type: z.literal('oauth2'),
      client_id: plainText(500, 'The client id').min(1, 'The client id is required.'),
      client_secret: plainText(2000, 'The client secret')
        .min(1)
        .nullable()
        .optional()
        .describe('For confidential clients; write-only. On update: omitted keeps it, null removes it.'),
      scopes: z.array(plainText(200, 'A scope').regex(/^\S+$/, 'A scope has no spaces.')).max(50).optional(),
      authorization_url: httpUrl('authorization_url')
        .nullable()
        .optional()
        .describe('Omitted: discovered from the MCP server’s OAuth metadata.'),
      token_url: httpUrl('token_url').nullable().optional().describe('Omitted: discovered.'),
    }),
  ])
  .describe('How chatd authenticates to the server. On update it replaces the whole auth configuration.');

const serverFields = {
  slug: z
    .string()
    .regex(
      SLUG_PATTERN,
      'A slug is 1–31 lower-case letters, digits or `-`, starting with a letter or digit; tools are named `<slug>__<tool>`.',
    )
    .describe('Unique; the prefix of the server’s tool names (`<slug>__<tool>`, at most 64 characters in all).'),
  display_name: plainText(200, 'The display name').min(1, 'The display name is required.'),
  description: plainText(2000, 'The description').optional(),
  url: httpUrl('url').describe('The MCP endpoint (streamable HTTP) or the SSE endpoint (`sse`).'),
  transport: z.enum(['streamable_http', 'sse']).optional().describe('Default `streamable_http`.'),
  auth: authSchema.optional(),
  availability: z
    .enum(['force_on', 'default_on', 'default_off'])
    .optional()
    .describe(
      '`force_on`: in every chat; `default_on`: chosen for new chats that name no servers; `default_off` ' +
        '(default): only in chats that name it.',
    ),
  tool_allow_list: z.array(toolName).max(500).optional().describe('When non-empty, only these tools are offered.'),
  tool_deny_list: z.array(toolName).max(500).optional().describe('Tools never offered (without an allow list).'),
  approval: approval.optional().describe('The policy of the server’s tools; default `auto`.'),
  tool_approval: z
    .record(toolName, approval)
    .refine((r) => Object.keys(r).length <= 500, 'At most 500 tool overrides.')
    .optional()
    .describe('Per-tool overrides of `approval`, by the server’s own tool name.'),
  enabled: z.boolean().optional().describe('Disabled servers are offered to no chat. Default true.'),
};

export const createMcpServerBody = z.strictObject(serverFields);
export const updateMcpServerBody = z
  .strictObject(serverFields)
  .partial()
  .refine((b) => Object.keys(b).length > 0, 'Nothing to update.');

export const mcpServerIdParams = idParams('MCP server');

export const mcpServerSchema = z
  .object({
    id: z.uuid(),
    slug: z.string(),
    display_name: z.string(),
    description: z.string(),
    url: z.string(),
    transport: z.enum(['streamable_http', 'sse']),
    auth: z
      .object({
        type: z.enum(['none', 'api_key', 'headers', 'oauth2']),
        header: z.string().optional(),
        has_api_key: z.boolean().optional().describe('Whether a key is stored; the key is never returned.'),
        header_names: z.array(z.string()).optional(),
        client_id: z.string().optional(),
        has_client_secret: z.boolean().optional(),
        scopes: z.array(z.string()).optional(),
        authorization_url: z.string().nullable().optional(),
        token_url: z.string().nullable().optional(),
      })
      .describe('The auth configuration without its secrets.'),
    availability: z.enum(['force_on', 'default_on', 'default_off']),
    tool_allow_list: z.array(z.string()),
    tool_deny_list: z.array(z.string()),
    approval,
    tool_approval: z.record(z.string(), approval),
    enabled: z.boolean(),
    created_at: timestamp,
    updated_at: timestamp,
  })
  .meta({ id: 'McpServer' });

export const userMcpServerSchema = z
  .object({
    id: z.uuid(),
    slug: z.string(),
    display_name: z.string(),
    description: z.string(),
    auth_type: z.enum(['none', 'api_key', 'headers', 'oauth2']),
    availability: z.enum(['force_on', 'default_on', 'default_off']),
    connected: z
      .boolean()
      .nullable()
      .describe('`oauth2` servers: whether the caller connected their account (tools need it); null otherwise.'),
  })
  .meta({ id: 'UserMcpServer' });

export const oauthCallbackQuery = z.object({
  state: z.string().min(1).max(512).describe('The state the authorization request carried.'),
  code: z.string().min(1).max(4096).optional().describe('The authorization code.'),
  error: z.string().max(256).optional().describe('Set by the authorization server when it did not grant access.'),
  error_description: z.string().max(2048).optional(),
});

const adminTag = 'MCP servers (admin)';
const tag = 'MCP servers';

/** The MCP server routes. */
export const mcpServersApi = {
  adminList: defineRoute({
    operationId: 'listMcpServersAdmin',
    method: 'get',
    path: '/admin/mcp-servers',
    summary: 'List MCP servers',
    tag: adminTag,
    access: 'admin',
    schemas: {},
    responses: { 200: { description: 'Every server, oldest first.', schema: z.array(mcpServerSchema) } },
  }),
  adminGet: defineRoute({
    operationId: 'getMcpServer',
    method: 'get',
    path: '/admin/mcp-servers/:id',
    summary: 'Get an MCP server',
    tag: adminTag,
    access: 'admin',
    schemas: { params: mcpServerIdParams },
    responses: { 200: { description: 'The server.', schema: mcpServerSchema } },
  }),
  adminCreate: defineRoute({
    operationId: 'createMcpServer',
    method: 'post',
    path: '/admin/mcp-servers',
    summary: 'Add an MCP server',
    tag: adminTag,
    access: 'admin',
    schemas: { body: createMcpServerBody },
    responses: {
      201: { description: 'The new server.', schema: mcpServerSchema },
      409: { description: 'The slug is taken (`mcp_server_slug_taken`).' },
    },
  }),
  adminUpdate: defineRoute({
    operationId: 'updateMcpServer',
    method: 'patch',
    path: '/admin/mcp-servers/:id',
    summary: 'Update an MCP server',
    description:
      '`auth` replaces the auth configuration; secrets left out are kept while the auth type stays. A new `url` ' +
      're-binds the stored secrets to it. Chats use the new configuration from their next step on.',
    tag: adminTag,
    access: 'admin',
    schemas: { params: mcpServerIdParams, body: updateMcpServerBody },
    responses: {
      200: { description: 'The updated server.', schema: mcpServerSchema },
      409: { description: 'The slug is taken (`mcp_server_slug_taken`).' },
    },
  }),
  adminDelete: defineRoute({
    operationId: 'deleteMcpServer',
    method: 'delete',
    path: '/admin/mcp-servers/:id',
    summary: 'Delete an MCP server',
    description: 'Also deletes every user’s tokens for it and removes it from every chat.',
    tag: adminTag,
    access: 'admin',
    schemas: { params: mcpServerIdParams },
    responses: { 204: { description: 'Deleted.' } },
  }),
  list: defineRoute({
    operationId: 'listMcpServers',
    method: 'get',
    path: '/mcp-servers',
    summary: 'List the MCP servers chats can use',
    description: 'The enabled servers, with whether the caller connected their account to each OAuth server.',
    tag,
    access: 'user',
    schemas: {},
    responses: { 200: { description: 'Enabled servers, oldest first.', schema: z.array(userMcpServerSchema) } },
  }),
  connect: defineRoute({
    operationId: 'connectMcpServerOAuth',
    method: 'post',
    path: '/mcp-servers/:id/oauth/connect',
    summary: 'Start connecting an OAuth MCP server',
    description:
      'Returns the authorization server’s URL (authorization code with PKCE S256) for the caller to open in a ' +
      'browser, valid for 10 minutes. The authorization server redirects to `/mcp-servers/oauth/callback` under ' +
      'CHATD_PUBLIC_URL (else this request’s origin), which stores the caller’s tokens.',
    tag,
    access: 'user',
    schemas: { params: mcpServerIdParams },
    responses: {
      200: {
        description: 'Where to send the user.',
        schema: z.object({ authorization_url: z.string(), expires_at: timestamp }),
      },
      400: { description: 'The server does not use OAuth (`mcp_server_not_oauth`).' },
      502: { description: 'OAuth discovery failed (`mcp_oauth_discovery_failed`).' },
    },
  }),
  disconnect: defineRoute({
    operationId: 'disconnectMcpServerOAuth',
    method: 'delete',
    path: '/mcp-servers/:id/oauth',
    summary: 'Disconnect an OAuth MCP server',
    description: 'Deletes the caller’s tokens; chats stop offering the server’s tools to the caller.',
    tag,
    access: 'user',
    schemas: { params: mcpServerIdParams },
    responses: { 204: { description: 'Disconnected.' } },
  }),
  callback: defineRoute({
    operationId: 'mcpOAuthCallback',
    method: 'get',
    path: '/mcp-servers/oauth/callback',
    summary: 'OAuth redirect target',
    description:
      'Where the authorization server sends the user’s browser back: exchanges the code for tokens and stores ' +
      'them for the user who started the authorization. Needs no API token: the one-time `state` identifies it.',
    tag,
    access: 'public',
    schemas: { query: oauthCallbackQuery },
    responses: {
      200: { description: 'A page saying the account is connected.', contentType: 'text/html' },
      400: {
        description:
          'Unknown, used or expired state (`mcp_oauth_state_invalid`), or access refused (`mcp_oauth_denied`).',
      },
      502: { description: 'The token exchange failed (`mcp_oauth_exchange_failed`).' },
    },
  }),
};
