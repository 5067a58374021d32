/**
 * The tool step's metrics (src/turn/tool-step.ts) on a real PostgreSQL: each call of a step reported
 * once with its tool and outcome (a result, an error result, no result at all when a tool's
 * infrastructure fails), and a tool the registry does not know still reported under its name.
 */
import { z } from 'zod';
import { insertMessages } from '../../../src/db/repositories/messages.repository';
import { insertUser } from '../../../src/db/repositories/users.repository';
import { messageRow, stepKey } from '../../../src/messages/rows';
import { MemoryStreamBus } from '../../../src/stream/memory-stream-bus';
import { buildToolRegistry } from '../../../src/tools/registry';
import { ToolInfrastructureError, type AnyToolDefinition } from '../../../src/tools/types';
import type { TurnMetrics } from '../../../src/turn/metrics';
import { runToolStep } from '../../../src/turn/tool-step';
import { createTestDatabase, insertUnusedModelConfig, type TestDatabase } from '../../support/db';

type ToolCall = Parameters<TurnMetrics['toolCall']>[0];

const tool = (name: string, execute: AnyToolDefinition['execute']): AnyToolDefinition => ({
  name,
  description: name,
  args: z.object({}),
  execute,
});

describe('tool step metrics', () => {
  let database: TestDatabase;
  let modelConfigId: string;

  beforeAll(async () => {
    database = await createTestDatabase();
    modelConfigId = (await insertUnusedModelConfig(database.db)).id;
  });

  afterAll(async () => {
    await database.drop();
  });

  async function stepWith(calls: Array<{ id: string; name: string }>): Promise<string> {
    const owner = await insertUser(database.db, { username: `metrics-${calls[0]!.id}`, role: 'member' });
    const chat = await database.db
      .insertInto('chats')
      .values({ owner_id: owner.id, last_model_config_id: modelConfigId, labels: '{}', status: 'running', turn: 1 })
      .returningAll()
      .executeTakeFirstOrThrow();
    await insertMessages(database.db, [
      messageRow({
        chatId: chat.id,
        turn: 1,
        role: 'assistant',
        stepKey: stepKey(1, 0, 'assistant'),
        content: calls.map((c) => ({ type: 'tool-call', tool_call_id: c.id, tool_name: c.name, args: {} })),
      }),
    ]);
    return chat.id;
  }

  it('reports each call once with its tool and outcome', async () => {
    const chatId = await stepWith([
      { id: 'ok1', name: 'works' },
      { id: 'err1', name: 'complains' },
      { id: 'unk1', name: 'no_such_tool' },
    ]);
    const reported: ToolCall[] = [];
    const tools = buildToolRegistry([
      tool('works', async () => ({ result: 'done', isError: false })),
      tool('complains', async () => ({ result: { error: 'nope' }, isError: true })),
    ]);
    const summary = await runToolStep(
      {
        db: database.db,
        bus: new MemoryStreamBus(),
        tools,
        workspaceFor: async () => null,
        metrics: { toolCall: (c) => reported.push(c) },
      },
      { chatId, turn: 1, step: 0 },
      new Set(),
      { signal: new AbortController().signal, heartbeat: () => undefined },
    );
    expect(summary).toEqual({ status: 'ok', results: 3 });
    expect(reported.map((c) => [c.tool, c.outcome]).sort()).toEqual([
      ['complains', 'error'],
      ['no_such_tool', 'error'],
      ['works', 'ok'],
    ]);
    expect(reported.every((c) => c.seconds >= 0)).toBe(true);
  });

  it('reports the calls that produced no result as failed when a tool infrastructure fails', async () => {
    const chatId = await stepWith([
      { id: 'ok2', name: 'works' },
      { id: 'down2', name: 'broken' },
    ]);
    const reported: ToolCall[] = [];
    const tools = buildToolRegistry([
      tool('works', async () => ({ result: 'done', isError: false })),
      tool('broken', async () => {
        throw new ToolInfrastructureError('the workspace host is gone');
      }),
    ]);
    await expect(
      runToolStep(
        {
          db: database.db,
          bus: new MemoryStreamBus(),
          tools,
          workspaceFor: async () => null,
          metrics: { toolCall: (c) => reported.push(c) },
        },
        { chatId, turn: 1, step: 0 },
        new Set(),
        { signal: new AbortController().signal, heartbeat: () => undefined },
      ),
    ).rejects.toThrow('the workspace host is gone');
    expect(reported.map((c) => [c.tool, c.outcome]).sort()).toEqual([
      ['broken', 'failed'],
      ['works', 'ok'],
    ]);
  });
});
