/**
 * The reads a turn's activities open a step with, one statement each: the chat row (what the turn
 * fence is checked against), the config generation (which tells whether the per-process config
 * caches still hold), what the step works on (the prompt, or the message holding the tool calls) and
 * the chat's linked workspace row (for a tool step, also whether its use is due to be recorded). A
 * step's write can read the same for the activity after it (insertStepMessages), which then need not
 * read it again (src/turn/step-handoff.ts).
 */
import { sql, type Kysely, type QueryCreator, type Transaction } from 'kysely';
import { jsonArrayFrom, jsonObjectFrom } from 'kysely/helpers/postgres';
import type { ChatRow, Database, NewChatMessageRow } from '../database';
import { isRunningTurn, markTurnRunningQuery } from './chats.repository';
import { takeSlotQuery } from './turn-slots.repository';
import { configGenerationQuery } from './configs.repository';
import {
  insertMessagesIfCurrentTurnWith,
  promptRowsQuery,
  type InsertedMessageRow,
  type PromptRow,
} from './messages.repository';
import { linkedWorkspaceQuery, WORKSPACE_USE_INTERVAL, type LinkedWorkspace } from './workspaces.repository';

type Db = Kysely<Database> | Transaction<Database>;

export interface ChatWithConfigGeneration {
  chat: ChatRow;
  configGeneration: number;
}

export interface ModelStepRead extends ChatWithConfigGeneration {
  prompt: PromptRow[];
  /** The chat's linked workspace row; null when it has none. */
  workspace: LinkedWorkspace | null;
}

/** The chat, undefined when it does not exist, with the config generation. */
export async function findChatWithConfigGeneration(
  db: Db,
  chatId: string,
): Promise<ChatWithConfigGeneration | undefined> {
  const row = await db
    .selectFrom('chats')
    .selectAll('chats')
    .select(configGenerationQuery(db).as('config_generation'))
    .where('id', '=', chatId)
    .executeTakeFirst();
  if (!row) return undefined;
  const { config_generation, ...chat } = row;
  return { chat, configGeneration: Number(config_generation) };
}

/** What a model step reads beside its chat row, as the columns of the statement that reads the row. */
function modelStepColumns(db: Db, chatId: string) {
  return [
    configGenerationQuery(db).as('config_generation'),
    jsonArrayFrom(promptRowsQuery(db, chatId)).as('prompt'),
    jsonObjectFrom(linkedWorkspaceQuery(db, chatId)).as('workspace'),
  ];
}

/** A row read with modelStepColumns, split into the chat and the rest. */
function toModelStepRead({
  config_generation,
  prompt,
  workspace,
  ...chat
}: ChatRow & {
  config_generation: number | null;
  prompt: PromptRow[];
  workspace: LinkedWorkspace | null;
}): ModelStepRead {
  return { chat, configGeneration: Number(config_generation), prompt, workspace };
}

/** A later step of a turn: the chat with the config generation, the prompt and the workspace, at one snapshot. */
export async function readModelStep(db: Db, chatId: string): Promise<ModelStepRead | undefined> {
  const row = await db
    .selectFrom('chats')
    .selectAll('chats')
    .select(modelStepColumns(db, chatId))
    .where('id', '=', chatId)
    .executeTakeFirst();
  return row && toModelStepRead(row);
}

/** The first step of a turn when the chat's owner has no running-turn slot free: its place in the queue. */
export interface QueuedTurn {
  queued: true;
  ownerId: string;
  /** 1 for the owner's turn that waited longest. */
  position: number;
}

/**
 * The first step of a turn: moves the chat to `running` (markTurnRunningQuery) and reads what
 * readModelStep reads. With `slotCap` > 0 a root chat's turn first takes one of its owner's running-turn
 * slots in the same statement (turn-slots.repository.ts); without one it stays `pending` and the result
 * says where it waits. Undefined when the turn cannot start (superseded, stopped, or the chat is gone).
 */
export async function startModelStep(db: Db, chatId: string, turn: number): Promise<ModelStepRead | undefined>;
export async function startModelStep(
  db: Db,
  chatId: string,
  turn: number,
  slotCap: number,
): Promise<ModelStepRead | QueuedTurn | undefined>;
export async function startModelStep(
  db: Db,
  chatId: string,
  turn: number,
  slotCap = 0,
): Promise<ModelStepRead | QueuedTurn | undefined> {
  const plain = db.with('marked', (qc) => markTurnRunningQuery(qc, chatId, turn).returningAll());
  // The CTE `admitted` is referenced by name only (in markTurnRunningQuery's SQL): the query's type is plain's.
  const start =
    slotCap > 0
      ? (db
          .with('admitted', (qc) => takeSlotQuery(qc, chatId, turn, slotCap))
          .with('marked', (qc) =>
            markTurnRunningQuery(
              qc as unknown as QueryCreator<Database>,
              chatId,
              turn,
              'after admitted',
            ).returningAll(),
          ) as unknown as typeof plain)
      : plain;
  const row = await start
    .selectFrom('marked')
    .selectAll('marked')
    .select((eb) => [
      // The version of the row this statement's snapshot holds (the UPDATE's effect is invisible here).
      eb.selectFrom('chats').select('turn').where('id', '=', chatId).as('snapshot_turn'),
      sql<number>`(select count(*)::int from chats w
          where w.owner_id = marked.owner_id and w.status = 'pending' and w.awaiting_slot_since is not null
            and w.awaiting_slot_since < marked.awaiting_slot_since)`.as('waiting_before'),
      ...modelStepColumns(db, chatId),
    ])
    .executeTakeFirst();
  if (row && row.turn === turn && row.status === 'pending' && row.awaiting_slot_since !== null) {
    return { queued: true, ownerId: row.owner_id, position: row.waiting_before + 1 };
  }
  if (!row || !isRunningTurn(row, turn)) return undefined;
  const { snapshot_turn, waiting_before: _position, ...marked } = row;
  const step = toModelStepRead(marked);
  if (snapshot_turn === turn) return step;
  // The snapshot is taken when the statement starts. It still had an older turn, so the UPDATE waited
  // for the transaction that committed this turn with its user message, which the reads at that
  // snapshot miss: read again, now that it is committed.
  const fresh = await readModelStep(db, chatId);
  return fresh && { ...fresh, chat: step.chat };
}

/** What a tool step opens with (readToolStep). */
export interface ToolStepRead {
  chat: ChatRow;
  /** The content of the step's message; null when missing. */
  stepContent: unknown[] | null;
  /** The chat's linked workspace row; null when none. */
  workspace: LinkedWorkspace | null;
  /** Whether the linked workspace's `last_used_at` is due to move (touchWorkspaceUsed); false when none. */
  workspaceUseDue: boolean;
}

/**
 * The tool step's input: the chat, the content of the step's message under `stepKey`, the chat's
 * linked workspace row and whether its use is due to be recorded, in one statement.
 */
export async function readToolStep(db: Db, chatId: string, stepKey: string): Promise<ToolStepRead | undefined> {
  const row = await db
    .selectFrom('chats')
    .selectAll('chats')
    .select((eb) => [
      eb
        .selectFrom('chat_messages')
        .select('content')
        .where('chat_id', '=', chatId)
        .where('step_key', '=', stepKey)
        .as('step_content'),
      jsonObjectFrom(linkedWorkspaceQuery(db, chatId)).as('workspace'),
      eb
        .selectFrom('workspaces')
        .select(
          sql<boolean>`last_used_at is null or last_used_at < now() - ${sql.lit(WORKSPACE_USE_INTERVAL)}::interval`.as(
            'due',
          ),
        )
        .whereRef('workspaces.id', '=', 'chats.workspace_id')
        .as('workspace_use_due'),
    ])
    .where('id', '=', chatId)
    .executeTakeFirst();
  if (!row) return undefined;
  const { step_content, workspace, workspace_use_due, ...chat } = row;
  return { chat, stepContent: step_content ?? null, workspace, workspaceUseDue: workspace_use_due === true };
}

/** What insertStepMessages reads after its write: what the turn's next activity opens with, prompt aside. */
export interface StepWriteRead extends ChatWithConfigGeneration {
  /** The chat's linked workspace row; null when it has none. */
  workspace: LinkedWorkspace | null;
  /** Whether the linked workspace's `last_used_at` is due to move; false when none. */
  workspaceUseDue: boolean;
}

/** A chat row as `to_jsonb` gives it: timestamps are strings. */
type ChatJson = Omit<ChatRow, 'created_at' | 'updated_at' | 'awaiting_slot_since'> & {
  created_at: string;
  updated_at: string;
  awaiting_slot_since: string | null;
};

/**
 * Stores a step's messages under the turn fence (insertMessagesIfCurrentTurn) and, in the same statement,
 * reads what the turn's next activity opens with: the chat row as the fence touched it, the config
 * generation and the linked workspace. Null when fenced.
 */
export async function insertStepMessages(
  db: Db,
  chatId: string,
  turn: number,
  rows: [NewChatMessageRow, ...NewChatMessageRow[]],
): Promise<{ rows: InsertedMessageRow[]; read: StepWriteRead } | null> {
  const context = sql<{
    chat: ChatJson;
    config_generation: number | null;
    workspace: LinkedWorkspace | null;
    workspace_use_due: boolean | null;
  }>`jsonb_build_object(
      'chat', (select to_jsonb(f) from fence f),
      'config_generation', (${configGenerationQuery(db)}),
      'workspace', ${jsonObjectFrom(linkedWorkspaceQuery(db, chatId))},
      'workspace_use_due', (select w.last_used_at is null
                                   or w.last_used_at < now() - ${sql.lit(WORKSPACE_USE_INTERVAL)}::interval
                              from workspaces w where w.id = (select f.workspace_id from fence f)))`;
  const written = await insertMessagesIfCurrentTurnWith(db, chatId, turn, rows, context);
  if (!written) return null;
  const { chat, config_generation, workspace, workspace_use_due } = written.context;
  return {
    rows: written.rows,
    read: {
      chat: {
        ...chat,
        created_at: new Date(chat.created_at),
        updated_at: new Date(chat.updated_at),
        awaiting_slot_since: chat.awaiting_slot_since === null ? null : new Date(chat.awaiting_slot_since),
      },
      configGeneration: Number(config_generation),
      workspace,
      workspaceUseDue: workspace_use_due === true,
    },
  };
}
