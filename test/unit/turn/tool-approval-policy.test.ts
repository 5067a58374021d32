/**
 * Whether a tool call waits for the user (docs/tool-approval.md "Policy"): sub-agent tools never do, a
 * tool granted for the chat never does, the admin's `ask` always does otherwise, and a chat may only
 * ask for more. The admin's stored policy is read defensively: anything malformed reads as `auto`.
 */
import {
  ASK_EVERY_TOOL,
  asBuiltInPolicy,
  builtInApproval,
  DEFAULT_BUILT_IN_POLICY,
  effectiveApproval,
  type ChatApprovalSettings,
} from '../../../src/turn/tool-approval-policy';
import { SUBAGENT_TOOL_NAMES } from '../../../src/tools/subagent-names';

const chat = (ask: string[] = [], granted: string[] = []): ChatApprovalSettings => ({
  tool_approval_ask: ask,
  tool_approval_granted: granted,
});

describe('effectiveApproval', () => {
  it('follows the configured policy when the chat adds nothing', () => {
    expect(effectiveApproval('execute', 'auto', chat())).toBe('auto');
    expect(effectiveApproval('execute', 'ask', chat())).toBe('ask');
  });

  it.each(SUBAGENT_TOOL_NAMES)('never asks about the sub-agent tool %s, whatever the settings', (name) => {
    expect(effectiveApproval(name, 'ask', chat([ASK_EVERY_TOOL]))).toBe('auto');
    expect(effectiveApproval(name, 'ask', chat([name]))).toBe('auto');
    expect(effectiveApproval(name, 'auto', chat([ASK_EVERY_TOOL]))).toBe('auto');
  });

  it('runs a tool granted for the rest of the chat at once, even over the admin’s ask and the chat’s *', () => {
    expect(effectiveApproval('execute', 'ask', chat([], ['execute']))).toBe('auto');
    expect(effectiveApproval('execute', 'auto', chat([ASK_EVERY_TOOL], ['execute']))).toBe('auto');
    expect(effectiveApproval('execute', 'auto', chat(['execute'], ['execute']))).toBe('auto');
    // A grant is per tool: other tools still follow the policy.
    expect(effectiveApproval('write_file', 'ask', chat([], ['execute']))).toBe('ask');
  });

  it('asks about every tool when the chat asks for *', () => {
    expect(effectiveApproval('read_file', 'auto', chat([ASK_EVERY_TOOL]))).toBe('ask');
    expect(effectiveApproval('srv__search', 'auto', chat([ASK_EVERY_TOOL]))).toBe('ask');
  });

  it('asks about the tools the chat names, and only those', () => {
    const settings = chat(['execute', 'srv__delete']);
    expect(effectiveApproval('execute', 'auto', settings)).toBe('ask');
    expect(effectiveApproval('srv__delete', 'auto', settings)).toBe('ask');
    expect(effectiveApproval('read_file', 'auto', settings)).toBe('auto');
    // Names match exactly, not by prefix.
    expect(effectiveApproval('execute_more', 'auto', settings)).toBe('auto');
  });

  it('cannot loosen the admin’s ask: a chat naming other tools (or none) still asks', () => {
    expect(effectiveApproval('execute', 'ask', chat(['read_file']))).toBe('ask');
    expect(effectiveApproval('execute', 'ask', chat([]))).toBe('ask');
    expect(effectiveApproval('execute', 'ask', chat([], ['read_file']))).toBe('ask');
  });
});

describe('asBuiltInPolicy', () => {
  it('reads a well-formed policy as it is', () => {
    expect(asBuiltInPolicy({ default: 'ask', tools: { read_file: 'auto', execute: 'ask' } })).toEqual({
      default: 'ask',
      tools: { read_file: 'auto', execute: 'ask' },
    });
  });

  it.each([
    ['undefined (never set)', undefined],
    ['null', null],
    ['a string', 'ask'],
    ['a number', 1],
    ['a boolean', true],
    ['an array', [{ default: 'ask' }]],
    ['an empty object', {}],
  ])('reads %s as every tool auto', (_what, value) => {
    const policy = asBuiltInPolicy(value);
    expect(policy).toEqual({ default: 'auto', tools: {} });
    expect(builtInApproval(policy, 'execute')).toBe('auto');
  });

  it('reads a malformed default as auto and keeps the valid tool entries', () => {
    expect(asBuiltInPolicy({ default: 'never', tools: { execute: 'ask' } })).toEqual({
      default: 'auto',
      tools: { execute: 'ask' },
    });
    expect(asBuiltInPolicy({ default: 'ASK', tools: {} })).toEqual({ default: 'auto', tools: {} });
  });

  it('drops malformed tool entries and keeps the rest', () => {
    expect(
      asBuiltInPolicy({
        default: 'ask',
        tools: { execute: 'ask', read_file: 'auto', a: 'yes', b: null, c: 1, d: { policy: 'ask' }, e: ['ask'] },
      }),
    ).toEqual({ default: 'ask', tools: { execute: 'ask', read_file: 'auto' } });
  });

  it.each([
    ['an array', ['execute']],
    ['null', null],
    ['a string', 'execute'],
  ])('ignores tools given as %s', (_what, tools) => {
    expect(asBuiltInPolicy({ default: 'ask', tools })).toEqual({ default: 'ask', tools: {} });
  });

  it('is the default policy for a malformed value, which asks about nothing', () => {
    expect(asBuiltInPolicy('garbage')).toEqual(DEFAULT_BUILT_IN_POLICY);
    expect(DEFAULT_BUILT_IN_POLICY).toEqual({ default: 'auto', tools: {} });
  });
});

describe('builtInApproval', () => {
  it('uses the tool’s own entry over the default', () => {
    const policy = asBuiltInPolicy({ default: 'ask', tools: { read_file: 'auto' } });
    expect(builtInApproval(policy, 'read_file')).toBe('auto');
    expect(builtInApproval(policy, 'execute')).toBe('ask');
  });

  it('does not take inherited object keys for tool entries', () => {
    const policy = asBuiltInPolicy({ default: 'ask', tools: {} });
    expect(builtInApproval(policy, 'toString')).toBe('ask');
    expect(builtInApproval(policy, 'constructor')).toBe('ask');
    expect(builtInApproval(asBuiltInPolicy({ default: 'auto', tools: {} }), 'hasOwnProperty')).toBe('auto');
  });
});
