/**
 * The caller's spend (GET /usage-limits/status): what their chats cost in the current period against
 * the limit that applies to them, and where that limit comes from.
 */
import { useEffect, useState } from 'preact/hooks';
import { unwrap, type components } from '../../src/client';
import './admin/admin.css';
import { formatDate, formatUsd } from './admin/common';
import { describeError, type Session } from './session';

type UsageStatus = components['schemas']['UsageStatus'];

const PERIOD: Record<NonNullable<UsageStatus['period']>, string> = {
  day: 'today',
  week: 'this week',
  month: 'this month',
};
const SOURCE: Record<NonNullable<UsageStatus['limit_source']>, string> = {
  user: 'your own limit',
  group: "your group's limit",
  default: 'the default limit',
};

export function UsagePage({ session }: { session: Session }) {
  const [status, setStatus] = useState<UsageStatus | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    session.client.api
      .GET('/usage-limits/status')
      .then(unwrap)
      .then(setStatus, (err: unknown) => setError(describeError(err)));
  }, [session]);

  return (
    <section class="usage-page" aria-labelledby="usage-title">
      <h1 id="usage-title">Usage</h1>
      {error && (
        <p role="alert" class="error">
          {error}
        </p>
      )}
      {!status && !error && <p class="muted">Loading…</p>}
      {status && <UsageStatusView status={status} />}
    </section>
  );
}

function UsageStatusView({ status }: { status: UsageStatus }) {
  const period = status.period ? PERIOD[status.period] : 'in the current period';
  const limit = status.spend_limit_micros;
  if (!status.is_limited || limit === null) {
    return (
      <p>
        You spent <strong>{formatUsd(status.current_spend)}</strong> {period}. No spend limit applies to you.
      </p>
    );
  }
  const percent = limit > 0 ? Math.min(100, Math.round((status.current_spend / limit) * 100)) : 100;
  return (
    <>
      <p id="usage-summary">
        You spent <strong>{formatUsd(status.current_spend)}</strong> of <strong>{formatUsd(limit)}</strong> {period} (
        {percent}%), under {status.limit_source ? SOURCE[status.limit_source] : 'a limit'}.
      </p>
      <meter
        class="usage-meter"
        aria-labelledby="usage-summary"
        min={0}
        max={limit}
        low={limit * 0.75}
        high={limit * 0.9}
        optimum={0}
        value={Math.min(status.current_spend, limit)}
      />
      {status.current_spend >= limit && (
        <p role="alert" class="error">
          You reached your limit: new turns are refused until it resets.
        </p>
      )}
      {status.period_end && <p class="muted">The spend resets {formatDate(status.period_end)}.</p>}
    </>
  );
}
