/** The ledger of messages received but not yet deleted: the ingest's memory bound. */
import type { QueueMessage } from "../queue/sqs_queue.ts";
import { Wakeup } from "./wakeup.ts";

/** A held message, when SQS will make it visible again unless extended, and if it is written. */
export interface Held {
  readonly message: QueueMessage;
  visibleUntil: number;
  /** Committed (or found committed), waiting to be deleted. */
  written: boolean;
}

/** Messages held between receive and delete, bounded by count and by body bytes. */
export class InFlight {
  readonly #held = new Map<string, Held>();
  readonly #maxMessages: number;
  readonly #maxBytes: number;
  readonly #changed = new Wakeup();
  #bytes = 0;

  constructor({ maxMessages, maxBytes = Infinity }: { maxMessages: number; maxBytes?: number }) {
    this.#maxMessages = maxMessages;
    this.#maxBytes = maxBytes;
  }

  /** Messages held. */
  get size(): number {
    return this.#held.size;
  }

  /** Body bytes held, as UTF-16 code units: what the strings cost in memory, halved. */
  get bytes(): number {
    return this.#bytes;
  }

  /** True while receiving more would pass the bound. */
  get full(): boolean {
    return this.#held.size >= this.#maxMessages || this.#bytes >= this.#maxBytes;
  }

  /** Records `messages` as held, visible again at `visibleUntil`. */
  add(messages: readonly QueueMessage[], visibleUntil: number): void {
    for (const message of messages) {
      if (this.#held.has(message.receiptHandle)) continue;
      this.#held.set(message.receiptHandle, { message, visibleUntil, written: false });
      this.#bytes += message.body.length;
    }
  }

  /** Forgets `messages` (deleted, or given up on) and wakes a receiver waiting for room. */
  release(messages: readonly QueueMessage[]): void {
    for (const message of messages) {
      if (this.#held.delete(message.receiptHandle)) this.#bytes -= message.body.length;
    }
    this.#changed.notify();
  }

  /** Records that `messages` are committed: what is left of them at a stop needs no write. */
  markWritten(messages: readonly QueueMessage[]): void {
    for (const message of messages) {
      const held = this.#held.get(message.receiptHandle);
      if (held) held.written = true;
    }
  }

  /** Messages and bytes held, and how long ago (by `now`) the oldest held message was sent. */
  sample(now: number): { messages: number; bytes: number; oldestAgeSeconds: number } {
    let oldest = now;
    for (const held of this.#held.values()) {
      oldest = Math.min(oldest, held.message.sentAt.getTime());
    }
    return {
      messages: this.#held.size,
      bytes: this.#bytes,
      oldestAgeSeconds: (now - oldest) / 1000,
    };
  }

  /** Every held message. */
  all(): Held[] {
    return [...this.#held.values()];
  }

  /** Held messages that become visible before `time`. */
  dueBefore(time: number): Held[] {
    return [...this.#held.values()].filter((held) => held.visibleUntil < time);
  }

  /** Resolves once there is room, or `signal` aborts. */
  async waitForRoom(signal: AbortSignal): Promise<void> {
    const wake = () => this.#changed.notify();
    signal.addEventListener("abort", wake, { once: true });
    try {
      while (this.full && !signal.aborted) await this.#changed.wait();
    } finally {
      signal.removeEventListener("abort", wake);
    }
  }

  /** Resolves once nothing is held, or `signal` aborts. */
  async waitUntilEmpty(signal: AbortSignal): Promise<void> {
    const wake = () => this.#changed.notify();
    signal.addEventListener("abort", wake, { once: true });
    try {
      while (this.size > 0 && !signal.aborted) await this.#changed.wait();
    } finally {
      signal.removeEventListener("abort", wake);
    }
  }
}
