/**
 * The provisioning tools without a database: argument schemas and the input schemas the model sees, the
 * template filter and clipping, and how failures of the chat ↔ workspace layer become results. Expected
 * failures must reach the model as error results; anything else must be retried as an infrastructure fault.
 */
import { ToolInfrastructureError } from '../../../src/tools';
import { CreateWorkspaceArgs, createCreateWorkspaceTool } from '../../../src/tools/create-workspace.tool';
import {
  clipText,
  createListTemplatesTool,
  ListTemplatesArgs,
  matchesQuery,
} from '../../../src/tools/list-templates.tool';
import { createReadTemplateTool, ReadTemplateArgs, templateView } from '../../../src/tools/read-template.tool';
import { buildToolRegistry } from '../../../src/tools/registry';
import { createStartWorkspaceTool, StartWorkspaceArgs } from '../../../src/tools/start-workspace.tool';
import type { ToolContext } from '../../../src/tools/types';
import { ChatWorkspaceError, type ChatWorkspaces } from '../../../src/workspaces/chat-workspaces';
import { WorkspaceError } from '../../../src/workspaces/errors';
import type { WorkspaceInfo, WorkspaceTemplate } from '../../../src/workspaces/types';

const template = (over: Partial<WorkspaceTemplate> = {}): WorkspaceTemplate => ({
  id: 'node-app',
  name: 'node-app',
  displayName: 'Node.js app',
  description: 'A Node.js project.',
  parameters: [],
  ...over,
});

const info: WorkspaceInfo = {
  id: 'w-1',
  name: 'node-app-1a2b',
  templateId: 'node-app',
  status: 'running',
  createdAt: '2026-01-01T00:00:00.000Z',
};

const ctx: ToolContext = {
  chatId: 'chat-1',
  toolCallId: 'call-1',
  signal: new AbortController().signal,
  workspace: null,
  heartbeat: () => undefined,
};

type Fake = Pick<ChatWorkspaces, 'ownerOf' | 'create' | 'start'>;

function registryWith(fake: Partial<Fake>, templates: WorkspaceTemplate[] = [template()]) {
  const workspaces: Fake = {
    ownerOf: async () => 'user-1',
    create: async () => info,
    start: async () => ({ workspace: info, wasRunning: false }),
    ...fake,
  };
  return buildToolRegistry([
    createListTemplatesTool({ listTemplates: async () => templates }),
    createReadTemplateTool({ getTemplate: async (id) => templates.find((t) => t.id === id) ?? null }),
    createCreateWorkspaceTool({ workspaces }),
    createStartWorkspaceTool({ workspaces }),
  ]);
}

describe('argument schemas', () => {
  it('create_workspace: needs a template id, defaults parameters to {}, passes values as text', () => {
    expect(CreateWorkspaceArgs.parse({ template_id: ' node-app ' })).toEqual({
      template_id: 'node-app',
      parameters: {},
    });
    expect(
      CreateWorkspaceArgs.parse({ template_id: 't', name: 'web', parameters: { port: 3000, ssl: false, tag: 'v1' } }),
    ).toEqual({ template_id: 't', name: 'web', parameters: { port: '3000', ssl: 'false', tag: 'v1' } });
    expect(CreateWorkspaceArgs.safeParse({}).success).toBe(false);
    expect(CreateWorkspaceArgs.safeParse({ template_id: '  ' }).success).toBe(false);
    expect(CreateWorkspaceArgs.safeParse({ template_id: 't', name: 'x'.repeat(65) }).success).toBe(false);
    expect(CreateWorkspaceArgs.safeParse({ template_id: 't', parameters: { a: { b: 1 } } }).success).toBe(false);
  });

  it('read_template needs a template id; list_templates and start_workspace need nothing', () => {
    expect(ReadTemplateArgs.safeParse({}).success).toBe(false);
    expect(ReadTemplateArgs.parse({ template_id: 'x' })).toEqual({ template_id: 'x' });
    expect(ListTemplatesArgs.parse({})).toEqual({});
    expect(ListTemplatesArgs.parse({ query: ' node ' })).toEqual({ query: 'node' });
    expect(StartWorkspaceArgs.parse({})).toEqual({});
  });

  it('offers the model object schemas, with only template_id required by create_workspace', () => {
    const specs = registryWith({}).specs();
    expect(specs.map((s) => s.name)).toEqual([
      'list_templates',
      'read_template',
      'create_workspace',
      'start_workspace',
    ]);
    const create = specs.find((s) => s.name === 'create_workspace')!;
    expect(create.inputSchema).toMatchObject({
      type: 'object',
      required: ['template_id'],
      properties: { parameters: { type: 'object', additionalProperties: { type: ['string', 'number', 'boolean'] } } },
    });
    for (const spec of specs) expect(spec.description).toMatch(/\. [A-Z].*(Not|not|Do not)/);
  });

  it('answers invalid arguments with an error result naming the field', async () => {
    const output = await registryWith({}).execute({ id: 'c', name: 'create_workspace', input: { name: 'x' } }, ctx);
    expect(output.isError).toBe(true);
    expect((output.result as { error: string }).error).toMatch(/template_id/);
  });
});

describe('template listing helpers', () => {
  it.each([
    ['node', true],
    ['NODE js', true],
    ['nodejs app', true],
    ['node python', false],
    ['app-node', false],
  ])('query %j matches "Node.js app": %s', (query, expected) => {
    expect(matchesQuery(template(), query)).toBe(expected);
  });

  it('clips long text on code points and marks the cut', () => {
    expect(clipText('short', 10)).toBe('short');
    expect(clipText('abcdefghij', 5)).toBe('abcd…');
    const clipped = clipText('😀'.repeat(10), 4);
    expect(clipped).toBe('😀😀😀…');
    expect([...clipped]).toHaveLength(4);
  });

  it('lists descriptions of at most 200 characters with the parameter count', async () => {
    const long = template({
      description: 'x'.repeat(500),
      parameters: [{ name: 'p', description: '', type: 'string', required: true }],
    });
    const output = await registryWith({}, [long]).execute({ id: 'c', name: 'list_templates', input: {} }, ctx);
    const [listed] = (output.result as { templates: Array<{ description: string; parameter_count: number }> })
      .templates;
    expect([...listed!.description]).toHaveLength(200);
    expect(listed!.parameter_count).toBe(1);
  });

  it('shows parameter descriptions of at most 300 characters and omits absent defaults', () => {
    const view = templateView(
      template({
        parameters: [
          { name: 'a', description: 'd'.repeat(400), type: 'number', required: false, default: '3' },
          { name: 'b', description: 'short', type: 'boolean', required: true },
        ],
      }),
    );
    const [a, b] = view.parameters as Array<Record<string, unknown>>;
    expect([...(a!.description as string)]).toHaveLength(300);
    expect(a).toMatchObject({ name: 'a', type: 'number', required: false, default: '3' });
    expect(b).toEqual({ name: 'b', type: 'boolean', required: true, description: 'short' });
    expect(view.note).toBeUndefined();
    expect(templateView(template()).note).toMatch(/no parameters/);
  });
});

describe('create_workspace results', () => {
  const run = (fake: Partial<Fake>, input: Record<string, unknown> = { template_id: 'node-app' }) =>
    registryWith(fake).execute({ id: 'c', name: 'create_workspace', input }, ctx);

  it('creates as the chat owner and reports the new workspace', async () => {
    const create = jest.fn<ReturnType<Fake['create']>, Parameters<Fake['create']>>(async () => info);
    const output = await run({ create }, { template_id: 'node-app', name: 'web', parameters: { port: 8080 } });
    expect(create).toHaveBeenCalledWith(
      'chat-1',
      'user-1',
      'node-app',
      { port: '8080' },
      {
        name: 'web',
        signal: ctx.signal,
      },
    );
    expect(output).toEqual({
      isError: false,
      result: {
        created: true,
        workspace_id: 'w-1',
        workspace_name: 'node-app-1a2b',
        template_id: 'node-app',
        status: 'running',
        note: expect.any(String),
      },
    });
  });

  it('refuses when the chat already has a workspace, naming it', async () => {
    const stopped = { ...info, status: 'stopped' as const };
    const output = await run({
      create: async () => {
        throw new ChatWorkspaceError('already_exists', 'This chat already has a workspace.', stopped);
      },
    });
    expect(output).toEqual({
      isError: true,
      result: {
        error: 'This chat already has a workspace.',
        code: 'already_exists',
        created: false,
        workspace_id: 'w-1',
        workspace_name: 'node-app-1a2b',
        template_id: 'node-app',
        status: 'stopped',
      },
    });
  });

  it.each([
    ['template_not_found', new WorkspaceError('template_not_found', 'Template "x" does not exist.')],
    ['setup_failed', new WorkspaceError('setup_failed', "The template's setup exited with 1: boom")],
    ['chat_not_found', new ChatWorkspaceError('chat_not_found', 'Chat chat-1 does not exist.')],
  ])('turns %s into an error result with its code', async (code, err) => {
    const output = await run({
      create: async () => {
        throw err;
      },
    });
    expect(output).toEqual({ isError: true, result: { error: err.message, code } });
  });

  it('answers a chat that no longer exists with an error result', async () => {
    const output = await run({ ownerOf: async () => null });
    expect(output).toMatchObject({ isError: true, result: { code: 'chat_not_found' } });
  });

  // A database or provider host fault is not the model's doing: the activity must be retried.
  it('rethrows anything else as ToolInfrastructureError', async () => {
    const failing = run({
      create: async () => {
        throw new Error('connect ECONNREFUSED 127.0.0.1:5432');
      },
    });
    await expect(failing).rejects.toBeInstanceOf(ToolInfrastructureError);
    await expect(failing).rejects.toThrow(/create_workspace failed: connect ECONNREFUSED/);
  });
});

describe('start_workspace results', () => {
  const run = (fake: Partial<Fake>) => registryWith(fake).execute({ id: 'c', name: 'start_workspace', input: {} }, ctx);

  it('reports whether anything had to be started', async () => {
    expect(await run({})).toMatchObject({ isError: false, result: { started: true, already_running: false } });
    const running = await run({ start: async () => ({ workspace: info, wasRunning: true }) });
    expect(running.result).toMatchObject({ started: true, already_running: true, workspace_id: 'w-1' });
  });

  it.each([
    ['no_workspace', new ChatWorkspaceError('no_workspace', 'This chat has no workspace; use create_workspace first.')],
    ['deleted', new WorkspaceError('deleted', 'The workspace was deleted; use create_workspace to make a new one.')],
  ])('turns %s into an error result pointing at create_workspace', async (code, err) => {
    const output = await run({
      start: async () => {
        throw err;
      },
    });
    expect(output).toEqual({ isError: true, result: { error: err.message, code } });
    expect(err.message).toMatch(/create_workspace/);
  });

  it('rethrows infrastructure faults', async () => {
    const output = run({
      start: async () => {
        throw Object.assign(new Error('disk failure'), { code: 'EIO' });
      },
    });
    await expect(output).rejects.toBeInstanceOf(ToolInfrastructureError);
  });
});
