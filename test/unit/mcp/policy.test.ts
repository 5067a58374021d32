/** Which MCP tools a chat is offered and whether their calls need approval, from the admin's settings. */
import { isToolOffered, toolApproval } from '../../../src/mcp/policy';

describe('MCP tool policy', () => {
  it.each([
    ['no lists: everything', [], [], 'search', true],
    ['deny list: all but those', [], ['delete'], 'delete', false],
    ['deny list: others pass', [], ['delete'], 'search', true],
    ['allow list: only those', ['search'], [], 'search', true],
    ['allow list: others are left out', ['search'], [], 'delete', false],
    ['allow list wins over the deny list', ['search'], ['search'], 'search', true],
  ])('%s', (_what, allow, deny, tool, offered) => {
    expect(isToolOffered({ toolAllowList: allow, toolDenyList: deny }, tool)).toBe(offered);
  });

  it('uses a tool’s own approval policy over the server’s', () => {
    const config = { approval: 'ask' as const, toolApproval: { search: 'auto' as const } };
    expect(toolApproval(config, 'search')).toBe('auto');
    expect(toolApproval(config, 'delete')).toBe('ask');
    // Inherited object keys are not overrides.
    expect(toolApproval(config, 'toString')).toBe('ask');
  });
});
