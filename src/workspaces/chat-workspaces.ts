/**
 * The one place that maps chats to workspaces: a chat's `workspace_id` names a `workspaces` row, the row
 * names the provider's own workspace (`provider_ref`), and the provider decides whether it is running.
 * Every read reconciles the row's status with the provider (a workspace stopped or deleted behind our back
 * is recorded as such), and creating or starting a chat's workspace is serialised per chat. A row also names
 * the worker host that built it (`host_id`): only that host reaches the workspace or may conclude it is gone
 * (README "Workspace hosts").
 */
import type { Kysely } from 'kysely';
import type { Database, WorkspaceRow, WorkspaceRowStatus } from '../db/database';
import { findChat, lockChat } from '../db/repositories/chats.repository';
import {
  findWorkspaceForChat,
  insertWorkspace,
  linkChatWorkspace,
  setWorkspaceStatus,
  type LinkedWorkspace,
} from '../db/repositories/workspaces.repository';
import { WorkspaceError } from './errors';
import type { Workspace, WorkspaceInfo, WorkspaceProvider, WorkspaceTemplate } from './types';

/** Stable machine codes of `ChatWorkspaceError`. Public API: add, never rename. */
export type ChatWorkspaceErrorCode = 'chat_not_found' | 'no_workspace' | 'already_exists';

/**
 * An expected failure of a chat-level workspace operation; the message is written for the model. For
 * `already_exists`, `workspace` is the chat's current workspace.
 */
export class ChatWorkspaceError extends Error {
  constructor(
    readonly code: ChatWorkspaceErrorCode,
    message: string,
    readonly workspace?: WorkspaceInfo,
  ) {
    super(message);
    this.name = 'ChatWorkspaceError';
  }
}

export interface ChatWorkspacesDeps {
  db: Kysely<Database>;
  provider: WorkspaceProvider;
  /**
   * This process's workspace host id (CHATD_WORKSPACE_HOST_ID): recorded on the workspaces it creates, and
   * rows of other hosts are never reconciled here. Null or omitted: no host (rows are created without one).
   */
  hostId?: string | null;
}

/** What `start` did. */
export interface StartedWorkspace {
  workspace: WorkspaceInfo;
  /** True when the workspace was already running and nothing had to be started. */
  wasRunning: boolean;
}

/** Extra inputs of `create`. */
export interface CreateChatWorkspaceOptions {
  /** Human-readable name; the provider generates one from the template name when omitted. */
  name?: string;
  /** Aborts the template's setup (the half-built workspace is removed). */
  signal?: AbortSignal;
}

const DELETED_MESSAGE = 'The workspace was deleted; use create_workspace to make a new one.';

/**
 * Chat ↔ workspace mapping over one provider. The `WorkspaceInfo`s it returns carry the `workspaces` row id
 * (the id in `chats.workspace_id`), not the provider's id; a connected `Workspace` keeps the provider's id.
 * Use one instance per worker: the per-chat serialisation of create/start/stop is held in memory, and a
 * compare-and-set under the chat's row lock covers writers in other processes.
 */
export class ChatWorkspaces {
  private readonly db: Kysely<Database>;
  private readonly provider: WorkspaceProvider;
  private readonly hostId: string | null;
  private readonly queues = new Map<string, Promise<void>>();

  constructor(deps: ChatWorkspacesDeps) {
    this.db = deps.db;
    this.provider = deps.provider;
    this.hostId = deps.hostId ?? null;
  }

  /** The templates workspaces can be created from. */
  listTemplates(): Promise<WorkspaceTemplate[]> {
    return this.provider.listTemplates();
  }

  /** One template; null when it does not exist. */
  getTemplate(templateId: string): Promise<WorkspaceTemplate | null> {
    return this.provider.getTemplate(templateId);
  }

  /** The chat's owner (workspaces are created as them); null when the chat does not exist. */
  async ownerOf(chatId: string): Promise<string | null> {
    return (await findChat(this.db, chatId))?.owner_id ?? null;
  }

  /**
   * The chat's workspace with its status as the provider reports it now, deleted ones included; null when
   * the chat has none (or does not exist).
   */
  async get(chatId: string): Promise<WorkspaceInfo | null> {
    const row = await findWorkspaceForChat(this.db, chatId);
    return row ? toInfo(await this.refresh(row)) : null;
  }

  /**
   * The chat's workspace, connected, for the tools: null when the chat has no workspace or it is not
   * running (stopped, deleted, or gone from the provider). `linked` is the chat's linked workspace
   * row when the caller has just read it (null: none), saving the lookup. Throws only
   * infrastructure faults.
   */
  async forChat(chatId: string, linked?: LinkedWorkspace | null): Promise<Workspace | null> {
    const row = linked === undefined ? await findWorkspaceForChat(this.db, chatId) : linked;
    if (!row) return null;
    const current = await this.refresh(row);
    if (current.status !== 'running' || !this.serves(current)) return null;
    try {
      return await this.provider.connect(current.provider_ref);
    } catch (err) {
      // Stopped or deleted between the status check and the connect; the next read records it.
      if (err instanceof WorkspaceError) return null;
      throw err;
    }
  }

  /**
   * Builds a workspace from `templateId` as `ownerId` and links it to the chat, leaving it running. A chat
   * whose workspace was deleted gets a new one. Throws `ChatWorkspaceError` (`chat_not_found` when the chat
   * does not exist or `ownerId` does not own it, `already_exists` when the chat has a running or stopped
   * workspace) and the provider's `WorkspaceError`s (unknown template, bad parameters, failed setup).
   */
  async create(
    chatId: string,
    ownerId: string,
    templateId: string,
    params: Record<string, string> = {},
    options: CreateChatWorkspaceOptions = {},
  ): Promise<WorkspaceInfo> {
    return this.exclusive(chatId, async () => {
      options.signal?.throwIfAborted();
      const chat = await findChat(this.db, chatId);
      if (!chat || chat.owner_id !== ownerId) throw chatNotFound(chatId);
      const linked = await findWorkspaceForChat(this.db, chatId);
      if (linked) {
        const current = await this.refresh(linked);
        if (current.status !== 'deleted') throw alreadyExists(current);
      }

      const info = await this.provider.create(
        { templateId, name: options.name, parameters: params },
        { signal: options.signal },
      );
      try {
        const row = await this.db.transaction().execute(async (trx) => {
          const locked = await lockChat(trx, chatId);
          if (!locked || locked.owner_id !== ownerId) throw chatNotFound(chatId);
          // Another process may have linked a workspace while ours was being built.
          const rival = await findWorkspaceForChat(trx, chatId);
          if (rival && rival.status !== 'deleted') throw alreadyExists(rival);
          const inserted = await insertWorkspace(trx, {
            owner_id: ownerId,
            provider: this.provider.kind,
            template_id: info.templateId,
            name: info.name,
            status: info.status,
            provider_ref: info.id,
            host_id: this.hostId,
          });
          await linkChatWorkspace(trx, chatId, inserted.id);
          return inserted;
        });
        return toInfo(row);
      } catch (err) {
        // Nothing references the new workspace: remove it rather than leak it.
        await this.provider.delete(info.id).catch(() => undefined);
        throw err;
      }
    });
  }

  /**
   * Starts the chat's stopped workspace (a running one is returned as is). Throws `ChatWorkspaceError`
   * `no_workspace`, and `WorkspaceError` `deleted` when the workspace is gone (create a new one instead).
   */
  async start(chatId: string, options: { signal?: AbortSignal } = {}): Promise<StartedWorkspace> {
    return this.exclusive(chatId, async () => {
      options.signal?.throwIfAborted();
      const current = await this.requireLive(chatId);
      if (current.status === 'running') return { workspace: toInfo(current), wasRunning: true };
      try {
        await this.provider.start(current.provider_ref, { signal: options.signal });
      } catch (err) {
        if (err instanceof WorkspaceError && (err.code === 'deleted' || err.code === 'workspace_not_found')) {
          await setWorkspaceStatus(this.db, current.id, 'deleted');
          throw new WorkspaceError('deleted', DELETED_MESSAGE);
        }
        throw err;
      }
      const row = (await setWorkspaceStatus(this.db, current.id, 'running')) ?? { ...current, status: 'running' };
      return { workspace: toInfo(row), wasRunning: false };
    });
  }

  /**
   * Stops the chat's workspace, killing every process in it; its files stay for a later `start`. Throws as
   * `start` does.
   */
  async stop(chatId: string): Promise<WorkspaceInfo> {
    return this.exclusive(chatId, async () => {
      const current = await this.requireLive(chatId);
      const info = await this.provider.stop(current.provider_ref);
      const row = await this.record(current, info.status);
      return toInfo(row);
    });
  }

  /** The chat's workspace for start/stop: exists, not deleted, and served by this provider. */
  private async requireLive(chatId: string): Promise<WorkspaceRow> {
    const row = await findWorkspaceForChat(this.db, chatId);
    if (!row) throw new ChatWorkspaceError('no_workspace', 'This chat has no workspace; use create_workspace first.');
    const current = await this.refresh(row);
    if (current.status === 'deleted') throw new WorkspaceError('deleted', DELETED_MESSAGE);
    if (!this.serves(current)) {
      throw new WorkspaceError(
        'workspace_not_found',
        current.provider !== this.provider.kind
          ? `The chat's workspace belongs to provider "${current.provider}", which this worker does not serve.`
          : `The chat's workspace is on host "${current.host_id}", not on this worker's host; try again.`,
      );
    }
    return current;
  }

  /**
   * Whether this instance's provider built the workspace on this host (only then can it be asked about it).
   * Rows without a host (from before hosts) are served by any worker, as they always were.
   */
  private serves(row: LinkedWorkspace): boolean {
    return row.provider === this.provider.kind && (row.host_id === null || row.host_id === this.hostId);
  }

  /**
   * The row with the status the provider reports now; a workspace the provider forgot counts as deleted. Rows
   * of another host are returned as stored: a provider here knowing nothing of them proves nothing.
   */
  private async refresh<R extends LinkedWorkspace>(row: R): Promise<R> {
    if (row.status === 'deleted' || !this.serves(row)) return row;
    const info = await this.provider.get(row.provider_ref);
    return this.record(row, info?.status ?? 'deleted');
  }

  /** Stores `status` on the row when it changed. */
  private async record<R extends LinkedWorkspace>(row: R, status: WorkspaceRowStatus): Promise<R> {
    if (row.status === status) return row;
    return { ...row, ...(await setWorkspaceStatus(this.db, row.id, status)), status };
  }

  /** Runs `work` after every earlier create/start/stop of the same chat on this instance has finished. */
  private async exclusive<T>(chatId: string, work: () => Promise<T>): Promise<T> {
    const previous = this.queues.get(chatId) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((resolve) => (release = resolve));
    const tail = previous.then(() => mine);
    this.queues.set(chatId, tail);
    await previous;
    try {
      return await work();
    } finally {
      release();
      if (this.queues.get(chatId) === tail) this.queues.delete(chatId);
    }
  }
}

function toInfo(row: WorkspaceRow): WorkspaceInfo {
  return {
    id: row.id,
    name: row.name,
    templateId: row.template_id,
    status: row.status,
    createdAt: row.created_at.toISOString(),
  };
}

function chatNotFound(chatId: string): ChatWorkspaceError {
  return new ChatWorkspaceError('chat_not_found', `Chat ${chatId} does not exist.`);
}

function alreadyExists(row: WorkspaceRow): ChatWorkspaceError {
  const next =
    row.status === 'running'
      ? 'It is running: use it (the file and execute tools act in it) instead of creating another.'
      : `It is ${row.status}: start it with start_workspace instead of creating another.`;
  return new ChatWorkspaceError(
    'already_exists',
    `This chat already has a workspace, "${row.name}". ${next}`,
    toInfo(row),
  );
}
