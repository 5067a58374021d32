/**
 * Small database transitions the turn workflow needs: finishing a turn.
 */
import { finishTurn, type FinishInput, type TurnDeps } from '../src/chat/turn-runner';

export function createStoreActivities(deps: TurnDeps) {
  return {
    async finishTurn(input: FinishInput): ReturnType<typeof finishTurn> {
      return finishTurn(deps, input);
    },
  };
}
