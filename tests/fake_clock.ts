/** A clock whose time moves only when a test moves it: retries and waits without real sleeps. */
import type { Clock } from "../lib/ingest/clock.ts";

interface Timer {
  readonly at: number;
  readonly resolve: () => void;
}

/** Sleeps resolve when `advance` passes their time, or when their signal aborts. */
export class FakeClock implements Clock {
  #now: number;
  #timers: Timer[] = [];
  /** Every sleep asked for, in milliseconds. */
  readonly sleeps: number[] = [];

  constructor(start = Date.UTC(2026, 10, 25, 12)) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    this.sleeps.push(ms);
    return new Promise((resolve) => {
      if (signal?.aborted) return resolve();
      const timer = { at: this.#now + ms, resolve };
      this.#timers.push(timer);
      signal?.addEventListener("abort", () => {
        this.#timers = this.#timers.filter((t) => t !== timer);
        resolve();
      }, { once: true });
    });
  }

  /** Sleeps pending now. */
  get pending(): number {
    return this.#timers.length;
  }

  /** Moves time forward by `ms`, waking the sleeps that are due, and lets them run. */
  async advance(ms: number): Promise<void> {
    this.#now += ms;
    const due = this.#timers.filter((t) => t.at <= this.#now);
    this.#timers = this.#timers.filter((t) => t.at > this.#now);
    for (const timer of due) timer.resolve();
    // Let the woken code run up to its next wait.
    for (let i = 0; i < 10; i++) await Promise.resolve();
  }
}
