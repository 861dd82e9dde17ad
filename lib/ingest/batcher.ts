/** Gathers received messages into batches: full ones at once, partial ones after a wait. */
import type { QueueMessage } from "../queue/sqs_queue.ts";
import type { Clock } from "./clock.ts";
import { Wakeup } from "./wakeup.ts";

/** A queue of received messages handed out in batches of at most `size`. */
export class Batcher {
  readonly #size: number;
  readonly #waitMs: number;
  readonly #clock: Clock;
  readonly #changed = new Wakeup();
  #pending: QueueMessage[] = [];
  #since = 0;
  #closed = false;

  constructor({ size, waitMs, clock }: { size: number; waitMs: number; clock: Clock }) {
    this.#size = size;
    this.#waitMs = waitMs;
    this.#clock = clock;
  }

  /** Adds received messages. */
  push(messages: readonly QueueMessage[]): void {
    if (messages.length === 0) return;
    if (this.#pending.length === 0) this.#since = this.#clock.now();
    this.#pending.push(...messages);
    this.#changed.notify();
  }

  /** No more messages will come: `next()` hands out what is left, then undefined. */
  close(): void {
    this.#closed = true;
    this.#changed.notify();
  }

  /**
   * The next batch: as soon as `size` messages wait, or once the oldest waited `waitMs`, or at
   * once after `close()`. Undefined when closed and empty.
   */
  async next(): Promise<QueueMessage[] | undefined> {
    while (true) {
      const waiting = this.#pending.length;
      if (waiting >= this.#size || (this.#closed && waiting > 0)) return this.#take();
      if (this.#closed) return undefined;
      if (waiting === 0) {
        await this.#changed.wait();
        continue;
      }
      const left = this.#since + this.#waitMs - this.#clock.now();
      if (left <= 0) return this.#take();
      await this.#changed.waitAtMost(left, this.#clock);
    }
  }

  #take(): QueueMessage[] {
    const batch = this.#pending.splice(0, this.#size);
    this.#since = this.#clock.now();
    return batch;
  }
}
