/** A condition to wait on: `notify()` wakes every current waiter. */
import type { Clock } from "./clock.ts";

/** Wakes every waiter when something changed. */
export class Wakeup {
  #wake: () => void = () => {};
  #next: Promise<void> = this.#renew();

  /** Resolves at the next `notify()`. */
  wait(): Promise<void> {
    return this.#next;
  }

  /** Resolves at the next `notify()` or after `ms` on `clock`, whichever comes first. */
  async waitAtMost(ms: number, clock: Clock): Promise<void> {
    const timeout = new AbortController();
    try {
      await Promise.race([this.#next, clock.sleep(ms, timeout.signal)]);
    } finally {
      timeout.abort();
    }
  }

  /** Wakes the current waiters. */
  notify(): void {
    const wake = this.#wake;
    this.#next = this.#renew();
    wake();
  }

  #renew(): Promise<void> {
    return new Promise((resolve) => (this.#wake = resolve));
  }
}
