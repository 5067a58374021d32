/** Tool calls waiting for the user's decision (docs/tool-approval.md): approve once, always, or deny. */
import { useState } from 'preact/hooks';
import { unwrap, type ChatdClient } from '../../../src/client';
import { describeError } from '../session';
import type { PendingApproval } from '../transcript';

type Decision = 'approve' | 'approve_always' | 'deny';

export function Approvals({
  client,
  chatId,
  approvals,
  onError,
}: {
  client: ChatdClient;
  chatId: string;
  approvals: PendingApproval[];
  onError: (message: string) => void;
}) {
  const [reasons, setReasons] = useState<Record<string, string>>({});
  if (approvals.length === 0) return null;
  const decide = (approval: PendingApproval, decision: Decision): void =>
    void client.api
      .POST('/chats/{id}/tool-calls/{callId}/decision', {
        // A sub-agent's call is decided on the sub-agent's chat.
        params: { path: { id: approval.chat_id ?? chatId, callId: approval.call_id } },
        body:
          decision === 'deny' && reasons[approval.call_id]
            ? { decision, reason: reasons[approval.call_id] }
            : { decision },
      })
      .then(unwrap)
      .catch((err: unknown) => onError(describeError(err)));
  return (
    <section class="approvals" aria-label="Tool calls waiting for approval">
      {approvals.map((approval) => (
        <div class="approval" role="group" aria-label={`Approve ${approval.tool_name}?`} key={approval.call_id}>
          <p>
            The agent wants to run <strong>{approval.tool_name}</strong>
            {approval.chat_id !== chatId && ' (in a sub-agent)'}:
          </p>
          {approval.args !== undefined && <pre class="tool-args">{JSON.stringify(approval.args, null, 2)}</pre>}
          <label for={`reason-${approval.call_id}`}>Reason (when denying)</label>
          <input
            id={`reason-${approval.call_id}`}
            value={reasons[approval.call_id] ?? ''}
            onInput={(e) => setReasons({ ...reasons, [approval.call_id]: e.currentTarget.value })}
          />
          <div class="composer-bar">
            <button type="button" class="primary" onClick={() => decide(approval, 'approve')}>
              Approve
            </button>
            <button type="button" onClick={() => decide(approval, 'approve_always')}>
              Always allow {approval.tool_name}
            </button>
            <button type="button" class="danger" onClick={() => decide(approval, 'deny')}>
              Deny
            </button>
          </div>
        </div>
      ))}
    </section>
  );
}
