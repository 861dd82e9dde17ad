/** The deleting stage: written messages leave the queue, retried a few times, in the background. */
import { isPermanent } from "../failure.ts";
import type { QueueMessage, SqsQueue } from "../queue/sqs_queue.ts";
import { backoff, type Clock } from "./clock.ts";
import { failureOf, type IngestEvent } from "./events.ts";
import type { InFlight } from "./in_flight.ts";

/** Attempts at deleting a written message before leaving it to a redelivery. */
const DELETE_ATTEMPTS = 5;

/** What the deleter works with. */
export interface DeleterParts {
  readonly queue: SqsQueue;
  readonly inFlight: InFlight;
  readonly clock: Clock;
  readonly emit: (event: IngestEvent) => void;
  /** Called with a permanent failure: the run must end. */
  readonly fail?: ((error: unknown) => void) | undefined;
  /** Aborting ends retries and calls in progress; what is not deleted stays held. */
  readonly signal?: AbortSignal | undefined;
}

/** Deletes written batches while the next ones are written. */
export class Deleter {
  readonly #parts: DeleterParts;
  readonly #running = new Set<Promise<void>>();

  constructor(parts: DeleterParts) {
    this.#parts = parts;
  }

  /** Starts deleting `batch`, which is committed; `settled()` waits for it. */
  delete(batch: readonly QueueMessage[]): void {
    if (batch.length === 0) return;
    const deletion = this.#delete(batch).finally(() => this.#running.delete(deletion));
    this.#running.add(deletion);
  }

  /** Resolves once every deletion started has finished. */
  async settled(): Promise<void> {
    while (this.#running.size > 0) await Promise.all(this.#running);
  }

  async #delete(batch: readonly QueueMessage[]): Promise<void> {
    const { queue, inFlight, clock, emit, signal } = this.#parts;
    let left = batch;
    for (let attempt = 1;; attempt++) {
      if (signal?.aborted) return;
      let refused: readonly QueueMessage[] = left;
      let failure = { code: "refused", cause: "SQS refused some entries" };
      try {
        refused = await queue.delete(left, { signal });
      } catch (error) {
        if (signal?.aborted) return;
        if (isPermanent(error)) {
          this.#parts.fail?.(error);
          return;
        }
        failure = failureOf(error);
      }
      const kept = new Set(refused);
      const deleted = left.filter((message) => !kept.has(message));
      inFlight.release(deleted);
      if (deleted.length > 0) emit({ type: "deleted", count: deleted.length });
      left = refused;
      if (left.length === 0) return;
      if (attempt === DELETE_ATTEMPTS) {
        // They are written; a redelivery finds them by message id and is deleted then.
        inFlight.release(left);
        emit({ type: "gaveUp", stage: "delete", count: left.length });
        return;
      }
      const delayMs = backoff(attempt);
      emit({ type: "retry", stage: "delete", attempt, delayMs, count: left.length, ...failure });
      await clock.sleep(delayMs, signal);
    }
  }
}
