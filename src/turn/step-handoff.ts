/**
 * Hands a turn's reads from one activity to the next when both run in the same worker process, so an
 * extra tool step costs two statements (its results, the next model step's message) instead of four
 * (docs/architecture.md "Step handoff"). The statement that stores a step's messages also reads what
 * the next activity opens with (insertStepMessages): the chat row under the fence, the config generation
 * and the linked workspace. Together with the prompt the model step read, that is what the next
 * activity would read, provided nothing else was written to the chat in between, which the entries
 * check before they are made:
 *
 * - model step → its tool step: the step asked for tools, will go on, and asked for no compaction (which
 *   would rewrite the prompt); its message came right after the prompt it read (no message between);
 * - tool step → the next model step: its results came right after the step's message, and every tool
 *   call of that message has its result (a sub-agent or approval result stored elsewhere leaves one
 *   missing, or sits between).
 *
 * An entry is taken once, by the first attempt of the activity it is for, within ENTRY_TTL_MS; anything
 * else (a retry, another worker, a late start) reads from the database as before.
 */
import type { Kysely } from 'kysely';
import type { ChatRow, Database, NewChatMessageRow } from '../db/database';
import type { InsertedMessageRow, PromptRow } from '../db/repositories/messages.repository';
import { insertStepMessages, type ModelStepRead } from '../db/repositories/steps.repository';
import type { LinkedWorkspace } from '../db/repositories/workspaces.repository';
import { LruMap } from '../lru-map';
import { decodeParts } from '../messages/parts';

/** What a tool step opens with, handed over by its model step. */
export interface ToolStepHandoff {
  chat: ChatRow;
  /** The step's assistant message, as stored. */
  message: InsertedMessageRow;
  workspace: LinkedWorkspace | null;
  workspaceUseDue: boolean;
  /** The prompt the model step read, followed by its message: the start of the next step's prompt. */
  prompt: PromptRow[];
}

/** How long an entry waits for its activity: the next activity normally starts within milliseconds. */
export const ENTRY_TTL_MS = 30_000;
/** Entries kept at most (each holds a prompt): entries nobody takes go first. */
const MAX_ENTRIES = 256;

/** Which step of which turn (a StepInput of src/turn/deps.ts). */
type StepAt = { chatId: string; turn: number; step: number };

type Entry = { kind: 'tools'; value: ToolStepHandoff } | { kind: 'model'; value: ModelStepRead };

export class StepHandoff {
  private readonly entries = new LruMap<string, { entry: Entry; expires: number }>(MAX_ENTRIES);

  constructor(private readonly now: () => number = Date.now) {}

  /**
   * Stores model step `at`'s message (the turn goes on to its tool calls) under the turn fence, reading in
   * the same statement what the step's tool step opens with; offers that to the tool step when the message
   * came right after the prompt the step read (`read`). Null when fenced.
   */
  async storeModelStepMessage(
    db: Kysely<Database>,
    at: StepAt,
    message: NewChatMessageRow,
    read: ModelStepRead,
  ): Promise<InsertedMessageRow[] | null> {
    const written = await insertStepMessages(db, at.chatId, at.turn, [message]);
    if (!written) return null;
    const [row] = written.rows;
    if (row && insertedRightAfter(written.rows, read.prompt.at(-1)?.id ?? null)) {
      const { chat, workspace, workspaceUseDue } = written.read;
      const prompt = [...read.prompt, ...promptRowsOf(written.rows)];
      this.put(at, { kind: 'tools', value: { chat, message: row, workspace, workspaceUseDue, prompt } });
    }
    return written.rows;
  }

  /**
   * Stores tool step `at`'s results under the turn fence, reading in the same statement what the next
   * model step opens with; offers that to it when the results came right after the step's message and
   * answer every call of it: the prompt is then the one the model step read, its message and these
   * results. `handed` is what the tool step was handed. Null when fenced.
   */
  async storeToolResults(
    db: Kysely<Database>,
    at: StepAt,
    rows: [NewChatMessageRow, ...NewChatMessageRow[]],
    handed: ToolStepHandoff,
  ): Promise<InsertedMessageRow[] | null> {
    const written = await insertStepMessages(db, at.chatId, at.turn, rows);
    if (!written) return null;
    const results = promptRowsOf(written.rows);
    if (insertedRightAfter(written.rows, handed.message.id) && everyCallAnswered(handed.message, results)) {
      const { chat, configGeneration, workspace } = written.read;
      const value = { chat, configGeneration, workspace, prompt: [...handed.prompt, ...results] };
      this.put({ ...at, step: at.step + 1 }, { kind: 'model', value });
    }
    return written.rows;
  }

  /** What the tool step of `at` opens with, once; undefined when nothing was handed over. */
  takeForToolStep(at: StepAt): ToolStepHandoff | undefined {
    const entry = this.take(at, 'tools');
    return entry?.kind === 'tools' ? entry.value : undefined;
  }

  /** What the model step `at` opens with, once; undefined when nothing was handed over. */
  takeForModelStep(at: StepAt): ModelStepRead | undefined {
    const entry = this.take(at, 'model');
    return entry?.kind === 'model' ? entry.value : undefined;
  }

  private put(at: StepAt, entry: Entry): void {
    this.entries.set(key(at, entry.kind), { entry, expires: this.now() + ENTRY_TTL_MS });
  }

  private take(at: StepAt, kind: Entry['kind']): Entry | undefined {
    const k = key(at, kind);
    const held = this.entries.get(k);
    this.entries.delete(k);
    return held && held.expires > this.now() ? held.entry : undefined;
  }
}

const key = (at: StepAt, kind: Entry['kind']): string => `${at.chatId}:${at.turn}:${at.step}:${kind}`;

/** Whether `rows` were all inserted just now, one right after the other, the first right after `afterId`. */
function insertedRightAfter(rows: InsertedMessageRow[], afterId: number | null): boolean {
  return rows.length > 0 && rows.every((row, i) => row.prev_message_id === (i === 0 ? afterId : rows[i - 1]!.id));
}

/** The rows of `rows` the model sees (promptRowsQuery's filter), as prompt rows. */
function promptRowsOf(rows: InsertedMessageRow[]): PromptRow[] {
  return rows
    .filter((r) => !r.deleted && (r.visibility === 'model' || r.visibility === 'both'))
    .map(({ id, role, content, model_config_id, provider_response_id }) => ({
      id,
      role,
      content,
      model_config_id,
      provider_response_id,
    }));
}

/** Whether every tool call of `message` the provider did not run itself has a result in `results`. */
function everyCallAnswered(message: InsertedMessageRow, results: PromptRow[]): boolean {
  const answered = new Set(
    results.flatMap((r) => (r.role === 'tool' ? decodeParts(r.content) : [])).map((p) => p.tool_call_id),
  );
  return decodeParts(message.content).every(
    (p) => p.type !== 'tool-call' || p.provider_executed || answered.has(p.tool_call_id),
  );
}
