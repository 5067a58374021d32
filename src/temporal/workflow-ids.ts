/** Business workflow ids. The format is durable: operators search by it and Temporal dedupes on it. */
export const chatWorkflowId = (chatId: string): string => `chat-${chatId}`;
