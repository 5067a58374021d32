/**
 * Task queue names. The shared queue (CHATD_TASK_QUEUE) runs workflows and every activity; each
 * workspace host also polls its own queue, where the tool calls of the chats whose workspace it
 * holds run (README "Workspace hosts"). Queue names are durable: in-flight turns route by them.
 */

/** Default task queue for chat turns; overridable with CHATD_TASK_QUEUE (tests use their own). */
export const DEFAULT_TASK_QUEUE = 'chatd';

/** How long a tool step waits for its workspace host to pick it up (CHATD_WORKSPACE_HOST_TIMEOUT). */
export const DEFAULT_HOST_PICKUP_TIMEOUT_SECONDS = 60;

/** The task queue of workspace host `hostId` (CHATD_WORKSPACE_HOST_ID). */
export const workspaceHostTaskQueue = (hostId: string): string => `chatd-ws-${hostId}`;

/**
 * The task queue of one process's early first steps (docs/architecture.md "Early first step"): `id` is
 * fresh for each process start, so a step routed to a process that is gone is never picked up.
 */
export const earlyStepTaskQueue = (id: string): string => `chatd-early-${id}`;

/** How long an early first step waits for its activity, and its activity for the process's worker. */
export const EARLY_STEP_PICKUP_SECONDS = 5;

/**
 * Where a turn's first model step runs when it started early: the task queue of the process that
 * started it, and how long that process may take to pick the step up before the shared queue runs it.
 */
export interface FirstStepRoute {
  taskQueue: string;
  pickupTimeoutSeconds: number;
}

/**
 * Where the tool calls of a chat go, as a model step reports it (read from the chat's workspace row,
 * so the workflow routes by data): the host, its task queue, and how long the host may take to pick
 * the calls up before the model is told it is unavailable.
 */
export interface WorkspaceHostRoute {
  hostId: string;
  taskQueue: string;
  pickupTimeoutSeconds: number;
}
