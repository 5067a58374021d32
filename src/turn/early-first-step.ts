/**
 * The early first model step (docs/architecture.md "Early first step"). When the API and the worker run
 * in one process, the API tells this process's EarlyFirstSteps once a new turn's message is committed
 * (`begin`), and the turn's first model step opens and asks the provider at once, instead of after the
 * workflow's first task. The API routed that step's activity to this process's own task queue (the
 * workflow's input carries the route), where the activity takes over what was started (`adopt`):
 * it forwards its interrupts and cancellation, waits for the answer and stores it, as any model step.
 * So the first tokens reach the client while Temporal is still starting the run.
 *
 * Only the activity stores the step's message, with one exception: a step interrupted before the
 * activity took it over stores what it streamed itself (the workflow cancels an activity that has not
 * started, so none will), under the turn fence as always. A step the activity does not take over within
 * the pickup time is stopped and forgotten; the workflow then runs the step on the shared queue, and
 * that activity first tells clients to drop what was streamed (a `retry` event).
 */
import { LruMap } from '../lru-map';
import { INTERRUPT, type StepInput, type TurnDeps } from './deps';
import { keepInterruptedAnswer, openModelStep, requestAnswer, type EarlyStep, type ModelStepInput } from './model-step';

/** The abort reason of an early step nobody took over in time. */
export const NOT_TAKEN_OVER = 'early first step not taken over';

interface Entry {
  controller: AbortController;
  started: EarlyStep['started'];
  adopted: boolean;
  timer: NodeJS.Timeout;
  stopControl: () => void;
}

/** Early steps that were abandoned, remembered so their activity can tell clients to drop their output. */
const ABANDONED_KEPT = 1_000;

export class EarlyFirstSteps {
  private readonly steps = new Map<string, Entry>();
  private readonly abandoned = new LruMap<string, true>(ABANDONED_KEPT);
  private closed = false;

  /** `takeOverWithinMs`: how long a started step waits for its activity (the route's pickup time). */
  constructor(
    private readonly deps: TurnDeps,
    private readonly takeOverWithinMs: number,
  ) {}

  /** Starts the first model step of `turn`, whose message just committed. Never throws. */
  begin(chatId: string, turn: number): void {
    const key = keyOf({ chatId, turn });
    if (this.closed || this.steps.has(key)) return;
    const input: ModelStepInput = { chatId, turn, step: 0, finish: true };
    const controller = new AbortController();
    const stopControl = this.deps.bus.onControl(chatId, (message) => {
      if (message.type === 'interrupt' && message.turn === turn) controller.abort(INTERRUPT);
    });
    const started: EarlyStep['started'] = openModelStep(this.deps, input, { attempt: 1 }).then((opening) =>
      opening.kind === 'done'
        ? opening
        : { kind: 'answering', step: opening.step, answer: requestAnswer(this.deps, opening.step, controller.signal) },
    );
    const entry: Entry = {
      controller,
      started,
      adopted: false,
      timer: setTimeout(() => this.abandon(key, entry), this.takeOverWithinMs),
      stopControl,
    };
    entry.timer.unref();
    this.steps.set(key, entry);
    // Failures belong to the activity that takes the step over; unadopted, they are only logged.
    started.then(
      (s) => {
        if (s.kind === 'answering') s.answer.result.catch(() => undefined);
      },
      (err: unknown) => {
        if (!entry.adopted) this.deps.log.warn({ err, chatId }, 'early first step could not start');
      },
    );
    controller.signal.addEventListener('abort', () => {
      if (!entry.adopted && controller.signal.reason === INTERRUPT) void this.keepInterrupted(entry, chatId);
    });
  }

  /**
   * The early step of `input` for its activity, which from now on owns it: `signal` (the activity's
   * interrupts and cancellation) is forwarded to it. Undefined when there is none.
   */
  adopt(input: StepInput, signal: AbortSignal): EarlyStep | undefined {
    const key = keyOf(input);
    const entry = input.step === 0 ? this.steps.get(key) : undefined;
    if (!entry) return undefined;
    this.steps.delete(key);
    clearTimeout(entry.timer);
    entry.stopControl();
    entry.adopted = true;
    const forward = (): void => entry.controller.abort(signal.reason);
    if (signal.aborted) forward();
    else signal.addEventListener('abort', forward, { once: true });
    return { started: entry.started, signal: entry.controller.signal };
  }

  /** Whether an early step of `input` was started and then abandoned (clients saw its output). */
  wasAbandoned(input: StepInput): boolean {
    return this.abandoned.get(keyOf(input)) !== undefined;
  }

  /** Stops every step not taken over (the worker is shutting down). */
  close(): void {
    this.closed = true;
    for (const [key, entry] of this.steps) this.abandon(key, entry);
  }

  private abandon(key: string, entry: Entry): void {
    if (this.steps.get(key) !== entry) return;
    this.steps.delete(key);
    clearTimeout(entry.timer);
    entry.stopControl();
    this.abandoned.set(key, true);
    if (!entry.controller.signal.aborted) entry.controller.abort(NOT_TAKEN_OVER);
  }

  /** An interrupted step nobody took over stores what it streamed (its activity would have). */
  private async keepInterrupted(entry: Entry, chatId: string): Promise<void> {
    try {
      const started = await entry.started;
      if (started.kind !== 'answering') return;
      await started.answer.result.catch(() => undefined);
      if (!entry.adopted) await keepInterruptedAnswer(this.deps, started.step, started.answer);
    } catch (err) {
      this.deps.log.warn({ err, chatId }, 'could not store the interrupted early first step');
    }
  }
}

const keyOf = (at: Pick<StepInput, 'chatId' | 'turn'>): string => `${at.chatId}:${at.turn}`;
