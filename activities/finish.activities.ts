/**
 * finishTurn: the end of a turn (src/turn/finish-turn.ts) as an activity. The workflow calls it when
 * the turn ends, whatever the outcome, outside the cancellable scope of the steps, unless the turn's
 * last model step already ended it. Reported by turn-end-report.ts.
 */
import { finishTurn, type FinishInput } from '../src/turn/finish-turn';
import type { TurnDeps } from '../src/turn/deps';
import { reportTurnEnd } from './turn-end-report';

export function createFinishActivities(deps: TurnDeps) {
  return {
    async finishTurn(input: FinishInput): ReturnType<typeof finishTurn> {
      const result = await finishTurn(deps, input);
      await reportTurnEnd(deps, input, result);
      return result;
    },
  };
}
