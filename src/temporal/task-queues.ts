/** Default task queue for chat turns; overridable with CHATD_TASK_QUEUE (tests use their own). */
export const DEFAULT_TASK_QUEUE = 'chatd';
