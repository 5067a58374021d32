/** What the chats cost in a window: everyone's summary by model (GET /cost/all/summary) and by user (GET /cost/users). */
import { useState } from 'preact/hooks';
import { unwrap, type ChatdClient } from '../../../src/client';
import { LoadState, formatUsd, useResource } from './common';

const DAY = 24 * 60 * 60 * 1000;

/** `yyyy-mm-dd` of a date in UTC, as a date input holds it. */
const isoDay = (date: Date): string => date.toISOString().slice(0, 10);

export function Costs({ client }: { client: ChatdClient }) {
  const [start, setStart] = useState(() => isoDay(new Date(Date.now() - 30 * DAY)));
  const [end, setEnd] = useState(() => isoDay(new Date(Date.now() + DAY)));
  const [range, setRange] = useState({ start, end });
  const query = { start_date: new Date(range.start).toISOString(), end_date: new Date(range.end).toISOString() };
  const summary = useResource(
    async () => unwrap(await client.api.GET('/cost/{user}/summary', { params: { path: { user: 'all' }, query } })),
    [range],
  );
  const byUser = useResource(
    async () => unwrap(await client.api.GET('/cost/users', { params: { query: { ...query, limit: 100 } } })),
    [range],
  );

  return (
    <>
      <h2>Costs</h2>
      <form
        class="admin-form inline-form"
        aria-label="Cost window"
        onSubmit={(e) => (e.preventDefault(), setRange({ start, end }))}
      >
        <div>
          <label for="cost-start">From</label>
          <input id="cost-start" type="date" required value={start} onInput={(e) => setStart(e.currentTarget.value)} />
        </div>
        <div>
          <label for="cost-end">Until (exclusive)</label>
          <input id="cost-end" type="date" required value={end} onInput={(e) => setEnd(e.currentTarget.value)} />
        </div>
        <button type="submit">Show</button>
      </form>
      <LoadState resource={summary} />
      {summary.data && (
        <>
          <p>
            Total <strong>{formatUsd(summary.data.total_cost_micros)}</strong> over {summary.data.chat_count} chat
            {summary.data.chat_count === 1 ? '' : 's'}; {summary.data.priced_message_count} priced and{' '}
            {summary.data.unpriced_message_count} unpriced messages, {summary.data.side_call_count} title and compaction
            calls.
          </p>
          {summary.data.by_model.length > 0 && (
            <div class="table-wrap">
              <table>
                <caption>By model</caption>
                <thead>
                  <tr>
                    <th scope="col">Model</th>
                    <th scope="col">Cost</th>
                    <th scope="col">Messages</th>
                    <th scope="col">Tokens in · out</th>
                  </tr>
                </thead>
                <tbody>
                  {summary.data.by_model.map((m) => (
                    <tr key={`${m.model_config_id ?? ''}:${m.model}`}>
                      <td>
                        {m.display_name}
                        {m.deleted && <span class="muted"> (deleted)</span>}
                      </td>
                      <td>{formatUsd(m.total_cost_micros)}</td>
                      <td>{m.priced_message_count + m.unpriced_message_count}</td>
                      <td>
                        {m.total_input_tokens.toLocaleString()} · {m.total_output_tokens.toLocaleString()}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
        </>
      )}
      <LoadState resource={byUser} />
      {byUser.data && byUser.data.users.length === 0 && <p class="muted">No costs in this window.</p>}
      {byUser.data && byUser.data.users.length > 0 && (
        <div class="table-wrap">
          <table>
            <caption>
              By user{byUser.data.count > byUser.data.users.length ? ` (top ${byUser.data.users.length})` : ''}
            </caption>
            <thead>
              <tr>
                <th scope="col">User</th>
                <th scope="col">Cost</th>
                <th scope="col">Chats</th>
                <th scope="col">Messages</th>
                <th scope="col">Tokens in · out</th>
              </tr>
            </thead>
            <tbody>
              {byUser.data.users.map((u) => (
                <tr key={u.user_id}>
                  <td>{u.username}</td>
                  <td>{formatUsd(u.total_cost_micros)}</td>
                  <td>{u.chat_count}</td>
                  <td>{u.message_count}</td>
                  <td>
                    {u.total_input_tokens.toLocaleString()} · {u.total_output_tokens.toLocaleString()}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </>
  );
}
