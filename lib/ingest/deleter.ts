/** The deleting stage: written messages leave the queue, retried a few times, in the background. */
import type { QueueMessage, SqsQueue } from "../queue/sqs_queue.ts";
import { backoff, type Clock } from "./clock.ts";
import { causeOf, type IngestEvent } from "./events.ts";
import type { InFlight } from "./in_flight.ts";

/** Attempts at deleting a written message before leaving it to a redelivery. */
const DELETE_ATTEMPTS = 5;

/** Deletes written batches while the next ones are written. */
export class Deleter {
  readonly #queue: SqsQueue;
  readonly #inFlight: InFlight;
  readonly #clock: Clock;
  readonly #emit: (event: IngestEvent) => void;
  readonly #running = new Set<Promise<void>>();

  constructor(
    parts: {
      queue: SqsQueue;
      inFlight: InFlight;
      clock: Clock;
      emit: (event: IngestEvent) => void;
    },
  ) {
    this.#queue = parts.queue;
    this.#inFlight = parts.inFlight;
    this.#clock = parts.clock;
    this.#emit = parts.emit;
  }

  /** Starts deleting `batch`, which is committed; `settled()` waits for it. */
  delete(batch: readonly QueueMessage[]): void {
    const deletion = this.#delete(batch).finally(() => this.#running.delete(deletion));
    this.#running.add(deletion);
  }

  /** Resolves once every deletion started has finished. */
  async settled(): Promise<void> {
    while (this.#running.size > 0) await Promise.all(this.#running);
  }

  async #delete(batch: readonly QueueMessage[]): Promise<void> {
    let left = batch;
    for (let attempt = 1;; attempt++) {
      let refused: readonly QueueMessage[] = left;
      let cause = "SQS refused some entries";
      try {
        refused = await this.#queue.delete(left);
      } catch (error) {
        cause = causeOf(error);
      }
      const kept = new Set(refused);
      const deleted = left.filter((message) => !kept.has(message));
      this.#inFlight.release(deleted);
      if (deleted.length > 0) this.#emit({ type: "deleted", count: deleted.length });
      left = refused;
      if (left.length === 0) return;
      if (attempt === DELETE_ATTEMPTS) {
        // They are written; a redelivery finds them by message id and is deleted then.
        this.#inFlight.release(left);
        this.#emit({ type: "gaveUp", stage: "delete", count: left.length });
        return;
      }
      const delayMs = backoff(attempt);
      this.#emit({ type: "retry", stage: "delete", attempt, delayMs, count: left.length, cause });
      await this.#clock.sleep(delayMs);
    }
  }
}
