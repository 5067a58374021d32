/**
 * What the worker's turn steps are built from (TurnDeps, injected by src/main/deps.ts), and the input and
 * context every step activity passes them.
 */
import type { Kysely } from 'kysely';
import type { Tracer } from '@opentelemetry/api';
import type { Logger } from 'pino';
import type { ChatRow, Database } from '../db/database';
import type { ChatStatus } from '../messages/chat-status';
import type { LinkedWorkspace } from '../db/repositories/workspaces.repository';
import { type ProviderKind } from '../llm/types';
import type { ChatToolSet } from './chat-tools';
import type { StreamBus } from '../stream/bus';
import type { ModelResolver, ResolvedModel } from './models';
import type { StepSettingsCache } from './step-settings';
import type { Workspace } from '../workspaces/types';
import type { TurnBudget } from '../usage/turn-budget';
import type { TurnMetrics } from './metrics';
import type { StepHandoff } from './step-handoff';

export interface TurnDeps {
  db: Kysely<Database>;
  bus: StreamBus;
  models: ModelResolver;
  /** The system prompt and the owner's prompt and thresholds, cached per process. */
  settings: StepSettingsCache;
  log: Logger;
  /** Set when tracing is on: model calls get GenAI spans (src/turn/observe.ts, README "Traces"). */
  tracer?: Tracer;
  /** The owner's spend limit, checked before every model call (src/usage/turn-budget.ts); unset: not checked. */
  budget?: TurnBudget;
  maxSteps: number;
  /** How long a tool call waits for the user's approval before it is denied (docs/tool-approval.md). */
  approvalTimeoutMs: number;
  /** Root-chat turns one user may run at once; 0: no limit (docs/operations.md "Fair scheduling"). */
  maxRunningTurnsPerUser: number;
  /** Wakes a chat's turn waiting for a running-turn slot (one just came free). Never throws. */
  wakeQueuedTurn?(chatId: string): Promise<void>;
  /**
   * The tools offered to the model in this chat: the built-in ones (sub-agent chats get fewer) and those
   * of the chat's MCP servers, with notes about servers left out and each tool's approval policy.
   * `configGeneration` (read with the step) lets the MCP server rows be served from the cache.
   */
  chatTools(chat: ChatRow, configGeneration?: number): Promise<ChatToolSet>;
  /**
   * The chat's running workspace, when the deployment has workspaces (instruction files come from it);
   * `linked` is the chat's linked workspace row, already read with the step.
   */
  workspaceFor?(chatId: string, linked?: LinkedWorkspace | null): Promise<Workspace | null>;
  /** Tells a parent chat's running turn that its sub-agent finished (the wait_agent wake-up). */
  notifySubagentFinished?(parentChatId: string, childChatId: string): Promise<void>;
  /**
   * Told by finishTurn, after its commit, that a turn ended and the chat did not move on to another
   * turn (web push, src/push). Must return at once and never throw: its work runs in the background
   * and must neither fail nor delay the turn.
   */
  onTurnEnded?(ended: TurnEnded): void;
  /** The process's metrics (README "Operations"); unset: nothing is measured. */
  metrics?: TurnMetrics;
  /** Hands a step's reads to the turn's next activity in this process (step-handoff.ts); unset: each reads. */
  handoff?: StepHandoff;
}

/**
 * How a turn's run ended, as the turn workflow reports it: `superseded` when a newer turn replaced it,
 * `fenced` when the chat moved on without it. Workflows import this type (type-only, through
 * finish-turn.ts).
 */
export type TurnOutcome = 'completed' | 'interrupted' | 'superseded' | 'failed' | 'fenced';

/** A turn's end as finishTurn committed it: the chat row's state then, and how the run ended. */
export interface TurnEnded {
  chatId: string;
  ownerId: string;
  /** Set for sub-agent chats. */
  parentChatId: string | null;
  archived: boolean;
  title: string;
  turn: number;
  outcome: TurnOutcome;
  /** The status finishTurn wrote (or found, after an interrupt). */
  status: ChatStatus;
  /** The user-facing error message when `status` is `error`. */
  lastError: string | null;
}

export interface StepInput {
  chatId: string;
  turn: number;
  step: number;
}

export interface StepContext {
  /** Aborts the provider call: with reason INTERRUPT for a user interrupt, anything else otherwise. */
  signal: AbortSignal;
  /** Told which provider serves the step, so its errors can be classified. */
  onProvider?: (kind: ProviderKind) => void;
  /**
   * The activity attempt (1 for the first run). A later attempt first looks for the step's committed
   * message and, when it is there, returns it instead of calling the model again.
   */
  attempt?: number;
  /** Called when a later attempt does call the model again (its earlier run committed nothing). */
  onRerun?: () => void;
  /**
   * Run the step on the fallback of the chat's model config (when it has one): its provider stayed
   * overloaded or rate-limited through the earlier attempts.
   */
  useFallback?: boolean;
  /** Told the chat's model config (`primary`) and the one the step runs on (`used`: it or its fallback). */
  onModel?: (used: ResolvedModel, primary: ResolvedModel) => void;
}

/** The abort reason that means "the user interrupted"; any other reason (shutdown) is rethrown. */
export const INTERRUPT = 'interrupt';
