/** The ChatStatus search attribute, kept current by the turn workflow for operators' visibility queries. */
import { upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import type { ChatStatus } from '../src/messages/chat-status';
import { ChatStatusKey } from '../src/temporal/search-attributes';

/** Sets the ChatStatus search attribute, where the run was started with chatd's attributes. */
export function setChatStatus(status: ChatStatus): void {
  if (workflowInfo().typedSearchAttributes.get(ChatStatusKey) === undefined) return;
  upsertSearchAttributes([{ key: ChatStatusKey, value: status }]);
}
