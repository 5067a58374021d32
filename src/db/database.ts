/**
 * The typed Kysely schema of chatd's PostgreSQL database. Row types stay inside src/db and src/chat;
 * everything else sees domain types. Must match migrations/ (the migrations are the source of truth).
 */
import type { ColumnType, Generated, Insertable, Selectable, Updateable } from 'kysely';
import type { ChatStatus } from '../messages/chat-status';

/** A timestamptz with a database default: optional on insert. */
type Timestamp = ColumnType<Date, Date | string | undefined, Date | string>;
type NullableTimestamp = ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
type Json<T> = ColumnType<T, string, string>;

export type UserRole = 'admin' | 'member';
export type ChatMessageRole = 'system' | 'user' | 'assistant' | 'tool';
export type ChatMessageVisibility = 'user' | 'model' | 'both';
export type ProviderName = 'openai' | 'anthropic' | 'openai-compat';

export interface UsersTable {
  id: Generated<string>;
  username: string;
  name: Generated<string>;
  role: Generated<UserRole>;
  chat_spend_limit_micros: number | null;
  /** Running-turn slots the user's chats hold (fair scheduling, migration 2026_12_05_1400). */
  running_turns: Generated<number>;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface ApiTokensTable {
  id: Generated<string>;
  user_id: string;
  name: Generated<string>;
  token_hash: Buffer;
  created_at: Timestamp;
  expires_at: NullableTimestamp;
  revoked_at: NullableTimestamp;
  last_used_at: NullableTimestamp;
}

export interface GroupsTable {
  id: Generated<string>;
  name: string;
  display_name: Generated<string>;
  chat_spend_limit_micros: number | null;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface GroupMembersTable {
  group_id: string;
  user_id: string;
}

export interface ChatProvidersTable {
  id: Generated<string>;
  provider: ProviderName;
  display_name: Generated<string>;
  api_key_ciphertext: Buffer | null;
  api_key_key_id: string | null;
  /**
   * The normalised base URL the key was entered or confirmed for ('' = the provider's default
   * endpoint); the ciphertext is bound to it (src/security/provider-keys.ts). A key is sent only
   * while it matches base_url. NULL when there is no key.
   */
  api_key_base_url: string | null;
  base_url: string | null;
  api_mode: 'responses' | 'chat' | null;
  enabled: Generated<boolean>;
  deleted: Generated<boolean>;
  created_by: string | null;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface ChatModelConfigsTable {
  id: Generated<string>;
  provider_id: string;
  model: string;
  display_name: Generated<string>;
  enabled: Generated<boolean>;
  is_default: Generated<boolean>;
  deleted: Generated<boolean>;
  context_limit: number;
  compression_threshold: Generated<number>;
  options: Json<Record<string, unknown>>;
  /** The config a model step fails over to when this one's provider stays overloaded (never itself has one). */
  fallback_model_config_id: Generated<string | null>;
  created_by: string | null;
  updated_by: string | null;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface ChatsTable {
  id: Generated<string>;
  owner_id: string;
  workspace_id: string | null;
  parent_chat_id: string | null;
  root_chat_id: string | null;
  last_model_config_id: string;
  title: Generated<string>;
  status: Generated<ChatStatus>;
  last_error: string | null;
  last_error_kind: string | null;
  turn: Generated<number>;
  archived: Generated<boolean>;
  pin_order: Generated<number>;
  labels: Json<Record<string, string>>;
  mcp_server_ids: Generated<string[]>;
  /** Tools (or `*`) whose calls this chat asks the user to approve beyond the admin's policy (docs/tool-approval.md). */
  tool_approval_ask: Generated<string[]>;
  /** Tools the user approved for the rest of the chat. */
  tool_approval_granted: Generated<string[]>;
  /** The chat's turns hold one of its owner's running-turn slots (migration 2026_12_05_1400). */
  holds_turn_slot: Generated<boolean>;
  /** Set while the chat's turn waits for a slot: waiting turns start in this order. */
  awaiting_slot_since: NullableTimestamp;
  mode: string | null;
  last_read_message_id: number | null;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface ChatMessagesTable {
  id: Generated<number>;
  chat_id: string;
  turn: number | null;
  step_key: string | null;
  model_config_id: string | null;
  created_by: string | null;
  role: ChatMessageRole;
  content: Json<unknown[]>;
  content_version: Generated<number>;
  visibility: Generated<ChatMessageVisibility>;
  input_tokens: number | null;
  output_tokens: number | null;
  total_tokens: number | null;
  reasoning_tokens: number | null;
  cache_creation_tokens: number | null;
  cache_read_tokens: number | null;
  context_limit: number | null;
  compressed: Generated<boolean>;
  deleted: Generated<boolean>;
  total_cost_micros: number | null;
  runtime_ms: number | null;
  provider_response_id: string | null;
  created_at: Timestamp;
}

export interface ChatQueuedMessagesTable {
  id: Generated<number>;
  chat_id: string;
  content: Json<unknown[]>;
  created_by: string | null;
  /** The model config the message was sent with; NULL: the chat's model when it is promoted. */
  model_config_id: Generated<string | null>;
  created_at: Timestamp;
}

export interface ChatFilesTable {
  id: Generated<string>;
  owner_id: string;
  name: Generated<string>;
  mimetype: string;
  data: Buffer;
  created_at: Timestamp;
}

export interface ChatFileLinksTable {
  chat_id: string;
  file_id: string;
}

export interface SiteConfigsTable {
  key: string;
  value: Json<unknown>;
  updated_at: Timestamp;
}

export interface UserConfigsTable {
  user_id: string;
  key: string;
  value: Json<unknown>;
  updated_at: Timestamp;
}

/** The one row counting writes to the config tables (see the config_generation migration). */
export interface ConfigGenerationTable {
  singleton: Generated<boolean>;
  generation: number;
}

/** Lifecycle of a workspace row; mirrors the provider's `WorkspaceStatus`. */
export type WorkspaceRowStatus = 'running' | 'stopped' | 'deleted';

export interface WorkspacesTable {
  id: Generated<string>;
  owner_id: string;
  /** The provider kind that built it (`local`). */
  provider: string;
  template_id: string;
  name: string;
  status: Generated<WorkspaceRowStatus>;
  /** The provider's own id for the workspace. */
  provider_ref: string;
  /** The worker host that built it (CHATD_WORKSPACE_HOST_ID); null for rows from before hosts. */
  host_id: ColumnType<string | null, string | null | undefined, string | null>;
  created_at: Timestamp;
  updated_at: Timestamp;
  /** When a chat's tools last ran in it, at most once a minute (null: never). */
  last_used_at: NullableTimestamp;
}

/** One file of a stored workspace diff (src/workspaces/git-diff.ts). */
export interface DiffFileJson {
  path: string;
  old_path?: string;
  status: 'added' | 'modified' | 'deleted' | 'renamed' | 'copied' | 'type_changed' | 'unmerged' | 'unknown';
  additions: number;
  deletions: number;
  binary?: boolean;
}

/** The latest git diff of a chat's workspace (migration 2026_12_04_1100). */
export interface ChatDiffStatusTable {
  chat_id: string;
  workspace_id: string | null;
  git_repository: boolean;
  files: Json<DiffFileJson[]>;
  files_truncated: boolean;
  additions: number;
  deletions: number;
  diff: string;
  truncated: boolean;
  content_hash: string;
  computed_at: Timestamp;
}

/** A browser's web push subscription (migration 2026_12_04_1500): where and how to reach one user's browser. */
export interface PushSubscriptionsTable {
  id: Generated<string>;
  user_id: string;
  /** The push service URL the browser gave (https); unique: one browser subscription belongs to one user. */
  endpoint: string;
  /** The browser's P-256 public key (base64url) the payload is encrypted to. */
  p256dh: string;
  /** The browser's 16-byte auth secret (base64url). */
  auth: string;
  /** When the push service said the subscription expires; null: no expiry known. */
  expires_at: NullableTimestamp;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface Database {
  users: UsersTable;
  api_tokens: ApiTokensTable;
  groups: GroupsTable;
  group_members: GroupMembersTable;
  chat_providers: ChatProvidersTable;
  chat_model_configs: ChatModelConfigsTable;
  chats: ChatsTable;
  chat_messages: ChatMessagesTable;
  chat_queued_messages: ChatQueuedMessagesTable;
  chat_files: ChatFilesTable;
  chat_file_links: ChatFileLinksTable;
  site_configs: SiteConfigsTable;
  user_configs: UserConfigsTable;
  config_generation: ConfigGenerationTable;
  workspaces: WorkspacesTable;
  chat_diff_status: ChatDiffStatusTable;
  push_subscriptions: PushSubscriptionsTable;
  mcp_servers: McpServersTable;
  mcp_server_user_tokens: McpServerUserTokensTable;
  mcp_oauth_states: McpOAuthStatesTable;
  chat_tool_approvals: ChatToolApprovalsTable;
  idempotency_keys: IdempotencyKeysTable;
  chat_usage_limit_config: ChatUsageLimitConfigTable;
  chat_usage_records: ChatUsageRecordsTable;
}

export type ChatRow = Selectable<ChatsTable>;
export type NewChatRow = Insertable<ChatsTable>;
export type ChatRowUpdate = Updateable<ChatsTable>;
export type ChatMessageRow = Selectable<ChatMessagesTable>;
export type NewChatMessageRow = Insertable<ChatMessagesTable>;
export type ChatQueuedMessageRow = Selectable<ChatQueuedMessagesTable>;
export type UserRow = Selectable<UsersTable>;
export type ChatProviderRow = Selectable<ChatProvidersTable>;
export type ChatModelConfigRow = Selectable<ChatModelConfigsTable>;
export type WorkspaceRow = Selectable<WorkspacesTable>;
export type NewWorkspaceRow = Insertable<WorkspacesTable>;
export type WorkspaceRowUpdate = Updateable<WorkspacesTable>;
export type ChatDiffStatusRow = Selectable<ChatDiffStatusTable>;
export type PushSubscriptionRow = Selectable<PushSubscriptionsTable>;

/** An MCP server an admin configured (migration 2026_12_05_1000; docs/mcp.md). */
export interface McpServersTable {
  id: Generated<string>;
  /** Prefix of the server's tool names (`<slug>__<tool>`); unique. */
  slug: string;
  display_name: string;
  description: Generated<string>;
  url: string;
  transport: 'streamable_http' | 'sse';
  auth_type: 'none' | 'api_key' | 'headers' | 'oauth2';
  /** The header an `api_key` server's key is sent in. */
  api_key_header: string | null;
  /** Names of the custom headers of a `headers` server (their values are in the sealed secrets). */
  header_names: Generated<string[]>;
  oauth2_client_id: string | null;
  oauth2_scopes: Generated<string[]>;
  /** Configured endpoints; null: discovered from the server's OAuth metadata. */
  oauth2_authorization_url: string | null;
  oauth2_token_url: string | null;
  /** Sealed JSON of the server's secrets (src/mcp/secrets.ts), bound to the row's id and url. */
  secrets_ciphertext: Buffer | null;
  secrets_key_id: string | null;
  availability: Generated<'force_on' | 'default_on' | 'default_off'>;
  tool_allow_list: Generated<string[]>;
  tool_deny_list: Generated<string[]>;
  approval: Generated<'auto' | 'ask'>;
  tool_approval: Json<Record<string, 'auto' | 'ask'>>;
  enabled: Generated<boolean>;
  created_by: string | null;
  updated_by: string | null;
  created_at: Timestamp;
  updated_at: Timestamp;
}

/** One user's OAuth tokens for one MCP server; the sealed JSON holds the access and refresh tokens. */
export interface McpServerUserTokensTable {
  server_id: string;
  user_id: string;
  tokens_ciphertext: Buffer;
  tokens_key_id: string;
  token_type: Generated<string>;
  expires_at: NullableTimestamp;
  scope: string | null;
  created_at: Timestamp;
  updated_at: Timestamp;
}

/** A pending OAuth authorization: found by the SHA-256 of its `state`, consumed once, short-lived. */
export interface McpOAuthStatesTable {
  state_hash: Buffer;
  server_id: string;
  user_id: string;
  verifier_ciphertext: Buffer;
  verifier_key_id: string;
  redirect_uri: string;
  created_at: Timestamp;
  expires_at: ColumnType<Date, Date | string, Date | string>;
}

export type McpServerRow = Selectable<McpServersTable>;
export type McpServerUserTokenRow = Selectable<McpServerUserTokensTable>;
export type McpOAuthStateRow = Selectable<McpOAuthStatesTable>;

/** What became of a tool call that waited for approval; null while it waits. */
export type ToolApprovalDecision = 'approved' | 'approved_always' | 'denied' | 'expired';

/** A tool call that waited for the user's approval (migration 2026_12_05_1100; docs/tool-approval.md). */
export interface ChatToolApprovalsTable {
  chat_id: string;
  call_id: string;
  /** The chat's root (itself for a top-level chat): a sub-agent's pending calls surface there. */
  root_chat_id: string;
  turn: number;
  step: number;
  /** The assistant message holding the call. */
  message_id: number | null;
  tool_name: string;
  /** SHA-256 (hex) of the call's arguments as canonical JSON. */
  args_sha256: string;
  requested_at: Timestamp;
  expires_at: Timestamp;
  decision: ToolApprovalDecision | null;
  /** Why a call was denied (the user's words, or what denied it: expiry, an interrupt, an archive). */
  reason: string | null;
  decided_by: string | null;
  decided_at: NullableTimestamp;
}

export type ChatToolApprovalRow = Selectable<ChatToolApprovalsTable>;

/**
 * An `Idempotency-Key` of a user (migration 2026_12_05_1200; docs/operations.md): a claim while its request
 * runs, then the response a retry replays. Expires 24 h after `created_at`.
 */
export interface IdempotencyKeysTable {
  user_id: string;
  key: string;
  request_method: string;
  request_path: string;
  /** SHA-256 (hex) of the method, path and body of the request that took the key. */
  fingerprint: string;
  /** Who holds the claim: a request only stores or releases its own claim. */
  claim_token: string;
  claimed_at: Timestamp;
  created_at: Timestamp;
  response_status: number | null;
  /** The response's JSON text (a `json` column: replayed as first sent). */
  response_body: ColumnType<unknown, string | null | undefined, string | null>;
  response_headers: ColumnType<Record<string, string>, string | undefined, string>;
  /** Set once the request finished; a response stored inside the request's own transaction has none yet. */
  completed_at: NullableTimestamp;
}

export type IdempotencyKeyRow = Selectable<IdempotencyKeysTable>;

/** How often spend limits reset: UTC calendar days, weeks starting Monday, or calendar months. */
export type UsagePeriod = 'day' | 'week' | 'month';

/** The deployment's spend limit setting (migration 2026_12_05_1300); no row: limits are off. */
export interface ChatUsageLimitConfigTable {
  singleton: Generated<boolean>;
  enabled: boolean;
  /** NULL: no default limit; only users with their own or a group's limit are limited. */
  default_limit_micros: number | null;
  period: UsagePeriod;
  created_at: Timestamp;
  updated_at: Timestamp;
}

/** A model call outside the steps of a turn (a title, a compaction summary) with its tokens and cost. */
export interface ChatUsageRecordsTable {
  id: Generated<number>;
  chat_id: string;
  kind: 'title' | 'compaction';
  /** The config whose prices applied; null when none matched the model that answered. */
  model_config_id: string | null;
  model: string;
  input_tokens: number | null;
  output_tokens: number | null;
  reasoning_tokens: number | null;
  cache_creation_tokens: number | null;
  cache_read_tokens: number | null;
  /** Null: unpriced (not free). */
  total_cost_micros: number | null;
  created_at: Timestamp;
}
