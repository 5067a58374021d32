/**
 * The chat status: one value per chat (chats.status, the `chat_status` enum of the migrations),
 * published in `status` stream events and watch events and kept in the ChatStatus search
 * attribute. Import-free, so the workflow sandbox may import it.
 */

/** A chat's status. Values are public API (stored, streamed, searched): add new ones, never rename. */
export type ChatStatus = 'waiting' | 'pending' | 'running' | 'paused' | 'completed' | 'error' | 'requires_action';

/**
 * The statuses of a chat whose turn is running or about to: new messages queue, and interrupt and
 * archive have something to stop.
 */
export const BUSY_STATUSES = ['pending', 'running', 'requires_action'] as const satisfies readonly ChatStatus[];

export const isBusy = (status: ChatStatus): boolean => (BUSY_STATUSES as readonly ChatStatus[]).includes(status);
