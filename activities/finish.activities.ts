import { finishTurn, type FinishInput } from '../src/turn/finish-turn';
import { type TurnDeps } from '../src/turn/deps';

export function createStoreActivities(deps: TurnDeps) {
  return {
    async finishTurn(input: FinishInput): ReturnType<typeof finishTurn> {
      return finishTurn(deps, input);
    },
  };
}
