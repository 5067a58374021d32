/**
 * Admin management of MCP servers (docs/mcp.md "Configuration"). Secrets (an API key, custom header
 * values, an OAuth client secret) are sealed together, bound to the server's id and URL, and never
 * returned: reads say which are set. A URL change re-seals the stored secrets for the new URL, so only
 * this API, never a database write, can point them at another server.
 */
import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Database, McpServerRow } from '../db/database';
import {
  deleteMcpServer,
  findMcpServer,
  insertMcpServer,
  listMcpServers,
  lockMcpServer,
  updateMcpServer,
  type McpServerRowUpdate,
} from '../db/repositories/mcp-servers.repository';
import { ConflictError, NotFoundError, ValidationError } from '../errors';
import { openServerSecrets, sealServerSecrets } from '../mcp/secrets';
import type { McpAuthType, McpAvailability, McpServerSecrets, McpTransport } from '../mcp/types';
import type { Actor } from '../security/actor';
import type { SecretBox } from '../security/secrets';
import type { ToolApprovalPolicy } from '../turn/chat-tools';

export interface McpServerAdminDeps {
  db: Kysely<Database>;
  secrets: SecretBox;
}

/** The authentication of a server as an admin writes it; secrets are write-only. */
export type McpAuthInput =
  | { type: 'none' }
  /** `value` may be left out on an update of an `api_key` server: the stored key is kept. */
  | { type: 'api_key'; header?: string; value?: string }
  | { type: 'headers'; headers: Record<string, string> }
  | {
      type: 'oauth2';
      client_id: string;
      /** Omitted on an update: the stored secret is kept; null removes it. */
      client_secret?: string | null;
      scopes?: string[];
      authorization_url?: string | null;
      token_url?: string | null;
    };

export interface CreateMcpServerInput {
  slug: string;
  display_name: string;
  description?: string;
  url: string;
  transport?: McpTransport;
  auth?: McpAuthInput;
  availability?: McpAvailability;
  tool_allow_list?: string[];
  tool_deny_list?: string[];
  approval?: ToolApprovalPolicy;
  tool_approval?: Record<string, ToolApprovalPolicy>;
  enabled?: boolean;
}

export type UpdateMcpServerInput = Partial<CreateMcpServerInput>;

export interface McpServerAuthDto {
  type: McpAuthType;
  /** `api_key`: the header the key is sent in. */
  header?: string;
  has_api_key?: boolean;
  /** `headers`: the names of the custom headers (values are never returned). */
  header_names?: string[];
  client_id?: string;
  has_client_secret?: boolean;
  scopes?: string[];
  authorization_url?: string | null;
  token_url?: string | null;
}

export interface McpServerDto {
  id: string;
  slug: string;
  display_name: string;
  description: string;
  url: string;
  transport: McpTransport;
  auth: McpServerAuthDto;
  availability: McpAvailability;
  tool_allow_list: string[];
  tool_deny_list: string[];
  approval: ToolApprovalPolicy;
  tool_approval: Record<string, ToolApprovalPolicy>;
  enabled: boolean;
  created_at: string;
  updated_at: string;
}

/** Whether the stored secrets still open (false: an admin must enter them again). */
function readableSecrets(box: SecretBox, row: McpServerRow): McpServerSecrets | null {
  try {
    return openServerSecrets(box, row);
  } catch {
    return null;
  }
}

export function toMcpServerDto(row: McpServerRow, box: SecretBox): McpServerDto {
  const secrets = readableSecrets(box, row) ?? {};
  const auth: McpServerAuthDto = { type: row.auth_type };
  if (row.auth_type === 'api_key') {
    auth.header = row.api_key_header ?? 'Authorization';
    auth.has_api_key = secrets.apiKey !== undefined;
  } else if (row.auth_type === 'headers') {
    auth.header_names = row.header_names;
  } else if (row.auth_type === 'oauth2') {
    auth.client_id = row.oauth2_client_id ?? '';
    auth.has_client_secret = secrets.clientSecret !== undefined;
    auth.scopes = row.oauth2_scopes;
    auth.authorization_url = row.oauth2_authorization_url;
    auth.token_url = row.oauth2_token_url;
  }
  return {
    id: row.id,
    slug: row.slug,
    display_name: row.display_name,
    description: row.description,
    url: row.url,
    transport: row.transport,
    auth,
    availability: row.availability,
    tool_allow_list: row.tool_allow_list,
    tool_deny_list: row.tool_deny_list,
    approval: row.approval,
    tool_approval: row.tool_approval ?? {},
    enabled: row.enabled,
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
  };
}

const isUniqueViolation = (err: unknown): boolean => (err as { code?: string }).code === '23505';
const slugTaken = (slug: string): ConflictError =>
  new ConflictError('mcp_server_slug_taken', `An MCP server with the slug "${slug}" exists.`);

/** The auth columns and secrets an auth input stands for; `previous` supplies secrets an update keeps. */
function authColumns(
  auth: McpAuthInput,
  previous: { type: McpAuthType; secrets: McpServerSecrets | null } | null,
): { columns: McpServerRowUpdate; secrets: McpServerSecrets } {
  const sameType = previous?.type === auth.type;
  const none = {
    api_key_header: null,
    header_names: [],
    oauth2_client_id: null,
    oauth2_scopes: [],
    oauth2_authorization_url: null,
    oauth2_token_url: null,
  } satisfies McpServerRowUpdate;
  switch (auth.type) {
    case 'none':
      return { columns: { ...none, auth_type: 'none' }, secrets: {} };
    case 'api_key': {
      const apiKey = auth.value ?? (sameType ? previous?.secrets?.apiKey : undefined);
      if (apiKey === undefined) {
        throw new ValidationError('An api_key server needs auth.value.', [
          { path: 'auth.value', message: 'Required.' },
        ]);
      }
      return {
        columns: { ...none, auth_type: 'api_key', api_key_header: auth.header ?? 'Authorization' },
        secrets: { apiKey },
      };
    }
    case 'headers':
      return {
        columns: { ...none, auth_type: 'headers', header_names: Object.keys(auth.headers) },
        secrets: { headers: auth.headers },
      };
    case 'oauth2': {
      const kept = sameType ? previous?.secrets?.clientSecret : undefined;
      const clientSecret = auth.client_secret === undefined ? kept : (auth.client_secret ?? undefined);
      return {
        columns: {
          ...none,
          auth_type: 'oauth2',
          oauth2_client_id: auth.client_id,
          oauth2_scopes: auth.scopes ?? [],
          oauth2_authorization_url: auth.authorization_url ?? null,
          oauth2_token_url: auth.token_url ?? null,
        },
        secrets: clientSecret !== undefined ? { clientSecret } : {},
      };
    }
  }
}

function checkPolicy(input: UpdateMcpServerInput): void {
  if ((input.tool_allow_list?.length ?? 0) > 0 && (input.tool_deny_list?.length ?? 0) > 0) {
    throw new ValidationError(
      'Give either tool_allow_list or tool_deny_list: a non-empty allow list makes the deny list meaningless.',
      undefined,
      'invalid_mcp_tool_lists',
    );
  }
}

const sealedColumns = (sealed: ReturnType<typeof sealServerSecrets>): McpServerRowUpdate => ({
  secrets_ciphertext: sealed?.ciphertext ?? null,
  secrets_key_id: sealed?.keyId ?? null,
});

/** Creates a server. Throws ConflictError `mcp_server_slug_taken`, ValidationError for bad settings. */
export async function createMcpServer(
  deps: McpServerAdminDeps,
  actor: Actor,
  input: CreateMcpServerInput,
): Promise<McpServerDto> {
  checkPolicy(input);
  const id = randomUUID();
  const { columns, secrets } = authColumns(input.auth ?? { type: 'none' }, null);
  try {
    const row = await insertMcpServer(deps.db, {
      id,
      slug: input.slug,
      display_name: input.display_name,
      description: input.description ?? '',
      url: input.url,
      transport: input.transport ?? 'streamable_http',
      auth_type: columns.auth_type!,
      ...columns,
      ...sealedColumns(sealServerSecrets(deps.secrets, id, input.url, secrets)),
      ...(input.availability ? { availability: input.availability } : {}),
      tool_allow_list: input.tool_allow_list ?? [],
      tool_deny_list: input.tool_deny_list ?? [],
      ...(input.approval ? { approval: input.approval } : {}),
      tool_approval: JSON.stringify(input.tool_approval ?? {}),
      ...(input.enabled !== undefined ? { enabled: input.enabled } : {}),
      created_by: actor.id,
      updated_by: actor.id,
    });
    return toMcpServerDto(row, deps.secrets);
  } catch (err) {
    if (isUniqueViolation(err)) throw slugTaken(input.slug);
    throw err;
  }
}

/** Every server, oldest first (admins). */
export async function getMcpServers(deps: McpServerAdminDeps): Promise<McpServerDto[]> {
  return (await listMcpServers(deps.db)).map((row) => toMcpServerDto(row, deps.secrets));
}

/** One server (admins). NotFoundError when unknown. */
export async function getMcpServer(deps: McpServerAdminDeps, id: string): Promise<McpServerDto> {
  const row = await findMcpServer(deps.db, id);
  if (!row) throw new NotFoundError('mcp_server');
  return toMcpServerDto(row, deps.secrets);
}

/**
 * Updates a server. `auth` replaces the authentication (secrets an update leaves out are kept when the
 * type stays); a new URL re-seals the secrets for it. Throws NotFoundError, ConflictError
 * `mcp_server_slug_taken`, ValidationError.
 */
export async function updateMcpServerById(
  deps: McpServerAdminDeps,
  actor: Actor,
  id: string,
  input: UpdateMcpServerInput,
): Promise<McpServerDto> {
  try {
    const row = await deps.db.transaction().execute(async (trx) => {
      const current = await lockMcpServer(trx, id);
      if (!current) throw new NotFoundError('mcp_server');
      checkPolicy({
        tool_allow_list: input.tool_allow_list ?? current.tool_allow_list,
        tool_deny_list: input.tool_deny_list ?? current.tool_deny_list,
      });
      const stored = readableSecrets(deps.secrets, current);
      const patch: McpServerRowUpdate = { updated_by: actor.id };
      let secrets = stored;
      if (input.auth) {
        const auth = authColumns(input.auth, { type: current.auth_type, secrets: stored });
        Object.assign(patch, auth.columns);
        secrets = auth.secrets;
      }
      const url = input.url ?? current.url;
      if (input.auth || url !== current.url) {
        if (secrets === null) {
          throw new ValidationError(
            'The stored secrets cannot be read any more; send auth with its secrets again.',
            undefined,
            'mcp_server_secrets_unreadable',
          );
        }
        Object.assign(patch, sealedColumns(sealServerSecrets(deps.secrets, id, url, secrets)));
      }
      if (input.slug !== undefined) patch.slug = input.slug;
      if (input.display_name !== undefined) patch.display_name = input.display_name;
      if (input.description !== undefined) patch.description = input.description;
      if (input.url !== undefined) patch.url = input.url;
      if (input.transport !== undefined) patch.transport = input.transport;
      if (input.availability !== undefined) patch.availability = input.availability;
      if (input.tool_allow_list !== undefined) patch.tool_allow_list = input.tool_allow_list;
      if (input.tool_deny_list !== undefined) patch.tool_deny_list = input.tool_deny_list;
      if (input.approval !== undefined) patch.approval = input.approval;
      if (input.tool_approval !== undefined) patch.tool_approval = JSON.stringify(input.tool_approval);
      if (input.enabled !== undefined) patch.enabled = input.enabled;
      return (await updateMcpServer(trx, id, patch))!;
    });
    return toMcpServerDto(row, deps.secrets);
  } catch (err) {
    if (isUniqueViolation(err)) throw slugTaken(input.slug ?? '');
    throw err;
  }
}

/** Deletes a server, its users' tokens, and its id from every chat's selection. NotFoundError when unknown. */
export async function deleteMcpServerById(deps: McpServerAdminDeps, id: string): Promise<void> {
  const deleted = await deps.db.transaction().execute((trx) => deleteMcpServer(trx, id));
  if (!deleted) throw new NotFoundError('mcp_server');
}
