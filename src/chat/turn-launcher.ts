/**
 * The port through which the chat lifecycle starts and steers turns. It is defined here, by its user;
 * src/temporal/turns.ts implements it on Temporal, so this folder never imports the orchestrator.
 */
export interface TurnRequest {
  chatId: string;
  turn: number;
  ownerId: string;
  rootChatId: string;
  modelConfigId: string;
  /**
   * A turn the API starts for a user's message: its first model step may start in this process as soon
   * as the turn commits (`turnCommitted`; docs/architecture.md "Early first step").
   */
  early?: boolean;
}

/** The user's decision on a tool call waiting for approval (docs/tool-approval.md). */
export interface ToolCallDecisionInput {
  callId: string;
  /** `approve_always`: approve, and run this tool without asking for the rest of the chat. */
  decision: 'approve' | 'deny' | 'approve_always';
  /** Why the call is denied: the model reads it. */
  reason?: string;
  /** The user deciding; the API checked that they own the chat. */
  userId: string;
}

/** A decision the running turn took. */
export interface ToolCallDecisionResult {
  callId: string;
  decision: 'approved' | 'approved_always' | 'denied';
  /** When the turn took it (ISO 8601). */
  decidedAt: string;
}

/** What the chat service needs from the orchestrator (an interface, so domain code has no Temporal). */
export interface TurnLauncher {
  requestTurn(request: TurnRequest): Promise<void>;
  /** Told after the commit of an `early` turn it was asked for. Must return at once and never throw. */
  turnCommitted?(request: TurnRequest): void;
  interrupt(chatId: string, turn: number): Promise<void>;
  /** Wakes a parent turn waiting for this sub-agent (no-op when the parent has no open run). */
  notifySubagentFinished(parentChatId: string, childChatId: string): Promise<void>;
  /**
   * Hands a decision to the chat's running turn; `not_waiting` when no run of the chat waits on that call
   * (decided meanwhile, expired, another turn's, or the turn is stopping).
   */
  decideToolCall(chatId: string, decision: ToolCallDecisionInput): Promise<ToolCallDecisionResult | 'not_waiting'>;
}
