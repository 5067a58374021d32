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
}

/** What the chat service needs from the orchestrator (an interface, so domain code has no Temporal). */
export interface TurnLauncher {
  requestTurn(request: TurnRequest): Promise<void>;
  interrupt(chatId: string, turn: number): Promise<void>;
  /** Wakes a parent turn waiting for this sub-agent (no-op when the parent has no open run). */
  notifySubagentFinished(parentChatId: string, childChatId: string): Promise<void>;
}
