import type { ChatStatus } from '../../../src/client';

const LABELS: Record<ChatStatus, string> = {
  waiting: 'idle',
  pending: 'pending',
  running: 'running',
  paused: 'paused',
  completed: 'completed',
  error: 'error',
  requires_action: 'needs approval',
};

export function StatusBadge({ status }: { status: ChatStatus | null }) {
  if (!status) return null;
  return <span class={`status status-${status}`}>{LABELS[status] ?? status}</span>;
}
