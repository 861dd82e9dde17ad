/**
 * Gathers received messages into batches: full ones at once, partial ones after a wait. A batch
 * is full at `size` messages or at `maxBytes` of bodies, whichever comes first.
 */
import type { QueueMessage } from "../queue/sqs_queue.ts";
import type { Clock } from "./clock.ts";
import { Wakeup } from "./wakeup.ts";

/** A queue of received messages handed out in batches of at most `size` messages. */
export class Batcher {
  readonly #size: number;
  readonly #maxBytes: number;
  readonly #waitMs: number;
  readonly #clock: Clock;
  readonly #changed = new Wakeup();
  #pending: QueueMessage[] = [];
  #pendingBytes = 0;
  #since = 0;
  #closed = false;
  #flushing = false;

  constructor(
    { size, maxBytes = Infinity, waitMs, clock }: {
      size: number;
      /** Body bytes (UTF-16 code units) that make a batch full; one message always fits. */
      maxBytes?: number;
      waitMs: number;
      clock: Clock;
    },
  ) {
    this.#size = size;
    this.#maxBytes = maxBytes;
    this.#waitMs = waitMs;
    this.#clock = clock;
  }

  /** Adds received messages. */
  push(messages: readonly QueueMessage[]): void {
    if (messages.length === 0) return;
    if (this.#pending.length === 0) this.#since = this.#clock.now();
    this.#pending.push(...messages);
    for (const message of messages) this.#pendingBytes += message.body.length;
    this.#changed.notify();
  }

  /** The queue had no more for now: `next()` hands out what waits without waiting longer. */
  flush(): void {
    if (this.#pending.length === 0) return;
    this.#flushing = true;
    this.#changed.notify();
  }

  /** No more messages will come: `next()` hands out what is left, then undefined. */
  close(): void {
    this.#closed = true;
    this.#changed.notify();
  }

  /**
   * The next batch: as soon as a full batch waits, or once the oldest waited `waitMs`, or at once
   * after `flush()` or `close()`. Undefined when closed and empty.
   */
  async next(): Promise<QueueMessage[] | undefined> {
    while (true) {
      const waiting = this.#pending.length;
      const full = waiting >= this.#size || this.#pendingBytes >= this.#maxBytes;
      if (full || ((this.#closed || this.#flushing) && waiting > 0)) return this.#take();
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
    let count = 0;
    let bytes = 0;
    for (const message of this.#pending) {
      if (count === this.#size || (count > 0 && bytes + message.body.length > this.#maxBytes)) {
        break;
      }
      count++;
      bytes += message.body.length;
    }
    this.#pendingBytes -= bytes;
    this.#since = this.#clock.now();
    this.#flushing = false;
    return this.#pending.splice(0, count);
  }
}
