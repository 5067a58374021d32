/**
 * A chat's tool set: built-in tools first, external (MCP) tools after them, approval policies only for
 * external tools, and the tool step routing each call to the side that owns it.
 */
import { buildToolRegistry } from '../../../src/tools/registry';
import { toolResult } from '../../../src/tools/types';
import {
  chatToolSet,
  toolNotesText,
  withExternalTools,
  type ExternalToolSet,
  type ExternalToolSource,
} from '../../../src/turn/chat-tools';
import { z } from 'zod';

const chat = { id: 'c', owner_id: 'u', parent_chat_id: null, mcp_server_ids: ['s'] };
const spec = (name: string) => ({ name, description: name, inputSchema: { type: 'object' } });

function source(names: string[], notes: string[] = []): ExternalToolSource & { set: ExternalToolSet } {
  const set: ExternalToolSet = {
    specs: names.map(spec),
    notes,
    approval: (name) => (names.includes(name) ? 'ask' : undefined),
    execute: async (call) => toolResult(`external ${call.name}`),
  };
  return { set, owns: (name) => name.includes('__'), toolsFor: async () => set };
}

describe('chat tool sets', () => {
  it('lists built-in tools, then external ones, with approval policies for external tools only', async () => {
    const tools = await chatToolSet(chat, [spec('read_file')], source(['docs__search'], ['A note.']));
    expect(tools.specs.map((s) => s.name)).toEqual(['read_file', 'docs__search']);
    expect(tools.notes).toEqual(['A note.']);
    expect(tools.approval('docs__search')).toBe('ask');
    expect(tools.approval('read_file')).toBeUndefined();
  });

  it('works without an external source', async () => {
    const tools = await chatToolSet(chat, [spec('read_file')], undefined);
    expect(tools).toMatchObject({ specs: [spec('read_file')], notes: [] });
  });

  it('renders notes as one block, and none without notes', () => {
    expect(toolNotesText([])).toBeNull();
    expect(toolNotesText(['One.', 'Two.'])).toBe('<tool-availability>\n- One.\n- Two.\n</tool-availability>');
  });

  it('routes each call to the registry that owns its name', async () => {
    const builtIn = buildToolRegistry([
      { name: 'ping', description: 'ping', args: z.object({}), execute: async () => toolResult('pong') },
    ]);
    const external = source(['docs__search']);
    const registry = withExternalTools(builtIn, external, external.set);
    const ctx = { chatId: 'c', toolCallId: 't', signal: new AbortController().signal, workspace: null, heartbeat() {} };
    expect(await registry.execute({ id: '1', name: 'ping', input: {} }, ctx)).toEqual(toolResult('pong'));
    expect(await registry.execute({ id: '2', name: 'docs__search', input: {} }, ctx)).toEqual(
      toolResult('external docs__search'),
    );
    expect(registry.names()).toEqual(['ping', 'docs__search']);
  });
});
