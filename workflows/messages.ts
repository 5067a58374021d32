/**
 * Signals, updates and shared argument types of chatd's workflows. The string names are durable public API:
 * never rename them (add new ones instead).
 */
import { defineSignal, defineUpdate } from '@temporalio/workflow';
import type { ToolCallDecisionInput, ToolCallDecisionResult } from '../src/chat/turn-launcher';
import type { FirstStepRoute } from '../src/temporal/task-queues';

export type { ToolCallDecisionInput, ToolCallDecisionResult };

/** Input of one turn: workflow id `chat-<chatId>`, one run per turn. */
export interface ChatTurnInput {
  chatId: string;
  /** The chat's turn number (chats.turn) this run executes; the fence for everything it writes. */
  turn: number;
  /** Set when a long turn continued as new: the step to resume at (default 0). */
  fromStep?: number;
  /**
   * Set when the turn's first model step started early in the process that started the turn: where that
   * step's activity runs (docs/architecture.md "Early first step"). Absent in histories from before it.
   */
  firstStep?: FirstStepRoute;
}

/** Stop the turn `turn` (user interrupt); its partial output is kept. */
export const interruptSignal = defineSignal<[{ turn: number }]>('interrupt');

/**
 * A newer turn was committed (a message sent while this run was closing, or an edit that
 * supersedes this turn). The run stops what it is doing and continues as that turn.
 */
export const turnRequestedSignal = defineSignal<[{ turn: number; firstStep?: FirstStepRoute }]>('turn-requested');

/**
 * One of the chat owner's running-turn slots came free (sent by the finishTurn that gave it back): a turn
 * waiting for one tries again now (docs/operations.md "Fair scheduling").
 */
export const turnSlotFreedSignal = defineSignal('turn-slot-freed');

/** A sub-agent chat of this chat finished its turn (sent by the child's finishTurn). */
export const subagentFinishedSignal = defineSignal<[{ chatId: string }]>('subagent-finished');

/**
 * Decides a tool call the running turn waits on. Refused (ApplicationFailure `ToolCallNotWaiting`) when
 * the call does not wait in this run: already decided, expired, of another turn, or the turn is stopping.
 */
export const decideToolCallUpdate = defineUpdate<ToolCallDecisionResult, [ToolCallDecisionInput]>('decide-tool-call');

/** The failure type of a refused decision (the API answers 409). */
export const TOOL_CALL_NOT_WAITING = 'ToolCallNotWaiting';
