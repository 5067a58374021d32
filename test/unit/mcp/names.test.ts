/**
 * Tool names the model sees for MCP tools: `<slug>__<tool>` within the providers' `^[a-zA-Z0-9_-]{1,64}$`,
 * the same in every process for the same list, and never two tools under one name.
 */
import {
  exposedToolNames,
  isMcpToolName,
  MAX_TOOL_NAME_LENGTH,
  SLUG_PATTERN,
  slugOfToolName,
} from '../../../src/mcp/names';

const PROVIDER_NAME = /^[a-zA-Z0-9_-]{1,64}$/;

describe('MCP tool names', () => {
  it('prefixes plain names with the slug', () => {
    expect([...exposedToolNames('docs', ['search', 'get-page']).values()]).toEqual(['docs__search', 'docs__get-page']);
  });

  it.each([
    ['a name with dots and slashes', ['files.read/all']],
    ['a name too long to fit', ['x'.repeat(100)]],
    ['names that collide once made safe', ['a.b', 'a/b', 'a_b']],
    ['a name in another script', ['übersicht']],
  ])('keeps %s valid for providers and unique', (_what, tools) => {
    const slug = 'a'.repeat(31);
    const names = exposedToolNames(slug, tools);
    const exposed = [...names.values()];
    for (const name of exposed) {
      expect(name).toMatch(PROVIDER_NAME);
      expect(name.startsWith(`${slug}__`)).toBe(true);
      expect(isMcpToolName(name)).toBe(true);
    }
    expect(new Set(exposed).size).toBe(tools.length);
    // Deterministic: another process computing the names gets the same ones.
    expect([...exposedToolNames(slug, tools).values()]).toEqual(exposed);
  });

  it('accepts the longest slug with room for a 31-character tool', () => {
    const slug = 'a'.repeat(31);
    expect(SLUG_PATTERN.test(slug)).toBe(true);
    expect(SLUG_PATTERN.test('a'.repeat(32))).toBe(false);
    expect(exposedToolNames(slug, ['t'.repeat(31)]).get('t'.repeat(31))).toHaveLength(MAX_TOOL_NAME_LENGTH);
  });

  it.each([
    ['docs__search', true, 'docs'],
    ['my-server__get_page', true, 'my-server'],
    ['read_file', false, undefined],
    ['spawn_agent', false, undefined],
    ['Docs__search', false, undefined],
    ['__search', false, undefined],
  ])('%s is an MCP tool name: %s', (name, expected, slug) => {
    expect(isMcpToolName(name)).toBe(expected);
    expect(slugOfToolName(name)).toBe(slug);
  });
});
