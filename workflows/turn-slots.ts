/**
 * A turn waiting for one of its owner's running-turn slots (docs/operations.md "Fair scheduling"). The
 * first model step reports `queued` when every slot is taken; the run then waits on a durable timer,
 * holding no worker, until the finishTurn that frees a slot signals it or the timer fires (a lost signal
 * only delays it), and tries the step again.
 */
import { condition } from '@temporalio/workflow';

/** Patch id of the slot wait: histories from before it never saw a queued step. */
export const TURN_SLOTS_PATCH = 'wait-for-turn-slot';

/** The first retry; each later one waits twice as long, up to MAX_RETRY_MS. */
const FIRST_RETRY_MS = 2_000;
const MAX_RETRY_MS = 60_000;

export class TurnSlotWait {
  private freed = false;
  private delayMs = FIRST_RETRY_MS;

  /** The `turn-slot-freed` signal's handler. */
  onFreed(): void {
    this.freed = true;
  }

  /** Waits until a slot may be free: the signal, or the next retry time. */
  async wait(): Promise<void> {
    await condition(() => this.freed, this.delayMs);
    this.freed = false;
    this.delayMs = Math.min(this.delayMs * 2, MAX_RETRY_MS);
  }
}
