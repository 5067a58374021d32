/**
 * The approval policy of the built-in tools (GET/PUT /admin/tool-approval-policy): a default and
 * exceptions by tool name. MCP tools follow their server's policy (the MCP section).
 */
import { useState } from 'preact/hooks';
import { unwrap, type ChatdClient, type components } from '../../../src/client';
import { ErrorText, LoadState, useAction, useResource } from './common';

type Policy = components['schemas']['ToolApprovalPolicy'];
type Decision = Policy['default'];

export function ApprovalPolicy({ client }: { client: ChatdClient }) {
  const policy = useResource(async () => unwrap(await client.api.GET('/admin/tool-approval-policy')));
  return (
    <>
      <h2>Tool approval</h2>
      <p class="muted">
        Which built-in tool calls wait for the user's approval. MCP tools follow their server's setting; a chat may ask
        for more approvals, never fewer.
      </p>
      <LoadState resource={policy} />
      {policy.data && <PolicyForm client={client} policy={policy.data} onSaved={policy.reload} />}
    </>
  );
}

function PolicyForm({ client, policy, onSaved }: { client: ChatdClient; policy: Policy; onSaved: () => void }) {
  const [fallback, setFallback] = useState<Decision>(policy.default);
  const [tools, setTools] = useState<Array<[string, Decision]>>(Object.entries(policy.tools));
  const [newTool, setNewTool] = useState('');
  const [newDecision, setNewDecision] = useState<Decision>('ask');
  const [saved, setSaved] = useState(false);
  const action = useAction();

  const add = (): void => {
    const name = newTool.trim();
    if (!name) return;
    setTools([...tools.filter(([tool]) => tool !== name), [name, newDecision]]);
    setNewTool('');
  };
  const submit = async (): Promise<void> => {
    setSaved(false);
    const ok = await action.run(async () =>
      unwrap(
        await client.api.PUT('/admin/tool-approval-policy', {
          body: { default: fallback, tools: Object.fromEntries(tools) },
        }),
      ),
    );
    if (!ok) return;
    setSaved(true);
    onSaved();
  };

  return (
    <form class="admin-form" aria-label="Tool approval policy" onSubmit={(e) => (e.preventDefault(), void submit())}>
      <label for="approval-default">Built-in tools not listed below</label>
      <select id="approval-default" value={fallback} onChange={(e) => setFallback(e.currentTarget.value as Decision)}>
        <option value="auto">Run at once</option>
        <option value="ask">Ask for approval</option>
      </select>
      {tools.length > 0 && (
        <div class="table-wrap">
          <table>
            <caption>Exceptions</caption>
            <thead>
              <tr>
                <th scope="col">Tool</th>
                <th scope="col">Policy</th>
                <th scope="col">Actions</th>
              </tr>
            </thead>
            <tbody>
              {tools.map(([tool, decision], i) => (
                <tr key={tool}>
                  <td>
                    <code>{tool}</code>
                  </td>
                  <td>
                    <select
                      aria-label={`Policy of ${tool}`}
                      value={decision}
                      onChange={(e) =>
                        setTools(tools.map((entry, j) => (j === i ? [tool, e.currentTarget.value as Decision] : entry)))
                      }
                    >
                      <option value="auto">Run at once</option>
                      <option value="ask">Ask</option>
                    </select>
                  </td>
                  <td class="actions">
                    <button type="button" class="danger" onClick={() => setTools(tools.filter((_, j) => j !== i))}>
                      Remove
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <fieldset>
        <legend>Add an exception</legend>
        <div class="inline-form">
          <div>
            <label for="approval-new-tool">Tool name</label>
            <input
              id="approval-new-tool"
              placeholder="write_file"
              value={newTool}
              onInput={(e) => setNewTool(e.currentTarget.value)}
              onKeyDown={(e) => {
                if (e.key !== 'Enter') return;
                e.preventDefault();
                add();
              }}
            />
          </div>
          <div>
            <label for="approval-new-decision">Policy</label>
            <select
              id="approval-new-decision"
              value={newDecision}
              onChange={(e) => setNewDecision(e.currentTarget.value as Decision)}
            >
              <option value="auto">Run at once</option>
              <option value="ask">Ask</option>
            </select>
          </div>
          <button type="button" onClick={add} disabled={!newTool.trim()}>
            Add exception
          </button>
        </div>
      </fieldset>
      <div class="form-actions">
        <button type="submit" class="primary" disabled={action.busy}>
          Save policy
        </button>
      </div>
      {saved && <p role="status">Saved.</p>}
      <ErrorText error={action.error} />
    </form>
  );
}
