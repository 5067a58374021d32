/**
 * All activities, built from injected dependencies. Workflows import only the *type* Activities.
 * Activity names (the object keys) are durable public API: never rename them.
 */
import type { TurnDeps } from '../src/chat/turn-runner';
import { createLlmActivities } from './llm.activities';
import { createStoreActivities } from './store.activities';

export function createActivities(deps: TurnDeps) {
  return {
    ...createLlmActivities(deps),
    ...createStoreActivities(deps),
  };
}

export type Activities = ReturnType<typeof createActivities>;
