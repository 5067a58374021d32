/**
 * finishTurn: the end of a turn (src/turn/finish-turn.ts) as an activity. The workflow calls it when
 * the turn ends, whatever the outcome, outside the cancellable scope of the steps.
 */
import { finishTurn, type FinishInput } from '../src/turn/finish-turn';
import type { TurnDeps } from '../src/turn/deps';

export function createFinishActivities(deps: TurnDeps) {
  return {
    async finishTurn(input: FinishInput): ReturnType<typeof finishTurn> {
      return finishTurn(deps, input);
    },
  };
}
