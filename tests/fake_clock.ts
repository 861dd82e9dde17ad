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

  /**
   * Settles like `work`, moving time to the next sleep due within `horizonMs` whenever one is
   * pending: retries and backoffs pass at once while the database and queue take their real time.
   * Sleeps further off (a write's deadline) are left alone.
   */
  async drive<T>(
    work: Promise<T>,
    { horizonMs = 60_000 }: { horizonMs?: number } = {},
  ): Promise<T> {
    let done = false;
    const settled = work.finally(() => (done = true));
    settled.catch(() => {});
    while (!done) {
      await new Promise((resolve) => setTimeout(resolve, 1));
      const next = Math.min(...this.#timers.map((t) => t.at)) - this.#now;
      if (!done && next <= horizonMs) await this.advance(Math.max(0, next));
    }
    return await settled;
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
