/**
 * A chat's ask list as stored (docs/tool-approval.md "Policy"): deduplicated, `*` standing alone, and
 * asking about a tool again withdraws its "rest of the chat" approval (all of them, for `*`).
 */
import { askingMore, askList } from '../../../src/chat/approval-settings';

describe('askList', () => {
  it('keeps the named tools once each, in their first order', () => {
    expect(askList(['execute', 'write_file', 'execute', 'srv__delete', 'write_file'])).toEqual([
      'execute',
      'write_file',
      'srv__delete',
    ]);
  });

  it('collapses a list holding * to just *', () => {
    expect(askList(['execute', '*', 'read_file'])).toEqual(['*']);
    expect(askList(['*', '*'])).toEqual(['*']);
  });

  it('keeps an empty list empty', () => {
    expect(askList([])).toEqual([]);
  });

  it('does not change the caller’s list', () => {
    const ask = ['execute', 'execute'];
    askList(ask);
    expect(ask).toEqual(['execute', 'execute']);
  });
});

describe('askingMore', () => {
  it('stores the deduplicated list and keeps the grants of tools it does not name', () => {
    expect(askingMore({ tool_approval_granted: ['read_file'] }, ['execute', 'execute'])).toEqual({
      tool_approval_ask: ['execute'],
      tool_approval_granted: ['read_file'],
    });
  });

  it('withdraws the grant of a tool it asks about again', () => {
    expect(
      askingMore({ tool_approval_granted: ['execute', 'read_file', 'srv__search'] }, ['execute', 'srv__search']),
    ).toEqual({ tool_approval_ask: ['execute', 'srv__search'], tool_approval_granted: ['read_file'] });
  });

  it('withdraws every grant when it asks about every tool', () => {
    expect(askingMore({ tool_approval_granted: ['execute', 'read_file'] }, ['read_file', '*'])).toEqual({
      tool_approval_ask: ['*'],
      tool_approval_granted: [],
    });
  });

  it('keeps every grant when the list is emptied', () => {
    expect(askingMore({ tool_approval_granted: ['execute'] }, [])).toEqual({
      tool_approval_ask: [],
      tool_approval_granted: ['execute'],
    });
  });

  it('does not change the chat’s grants in place', () => {
    const chat = { tool_approval_granted: ['execute'] };
    askingMore(chat, ['*']);
    expect(chat.tool_approval_granted).toEqual(['execute']);
  });
});
