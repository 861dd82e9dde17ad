/**
 * Partitions ahead of the rows: at start this month's and the next, then for each batch the
 * months of its rows and the month after each, once per process. Best effort by design: the
 * default partition takes any row whose month has no partition yet, so an insert never waits on
 * this, and a month that failed is tried again with its next batch.
 */
import { addMonths, type Month, monthOf } from "../record/month.ts";
import { closeDatabase, type Database } from "../store/database.ts";
import { ensureMonthPartitions } from "../store/partitions.ts";
import type { Clock } from "./clock.ts";
import { classifyDatabaseError } from "../store/database_error.ts";
import type { IngestEvent } from "./events.ts";

/** How long making partitions may take before the ingest goes on without them. */
const ENSURE_TIMEOUT_MS = 30_000;

/** Makes sure of the partitions the ingest's rows need, through pools it opens with `connect`. */
export class PartitionKeeper {
  readonly #connect: () => Database;
  readonly #clock: Clock;
  readonly #emit: (event: IngestEvent) => void;
  readonly #ensured = new Set<Month>();

  constructor(
    parts: { connect: () => Database; clock: Clock; emit: (event: IngestEvent) => void },
  ) {
    this.#connect = parts.connect;
    this.#clock = parts.clock;
    this.#emit = parts.emit;
  }

  /** This month's partition and the next one's, by the clock; `signal` gives up waiting. */
  async ensureUpcoming({ signal }: { signal?: AbortSignal } = {}): Promise<void> {
    const month = monthOf(new Date(this.#clock.now()));
    await this.#ensure([month, addMonths(month, 1)], signal);
  }

  /**
   * The partitions of the months `messages` were sent in (their rows' `create_date`), and of the
   * month after each; `signal` gives up waiting.
   */
  async ensureFor(
    messages: readonly { readonly sentAt: Date }[],
    { signal }: { signal?: AbortSignal } = {},
  ): Promise<void> {
    const months = new Set<Month>();
    for (const { sentAt } of messages) {
      const month = monthOf(sentAt);
      months.add(month).add(addMonths(month, 1));
    }
    const missing = [...months].filter((month) => !this.#ensured.has(month));
    if (missing.length > 0) await this.#ensure(missing, signal);
  }

  async #ensure(months: readonly Month[], signal: AbortSignal | undefined): Promise<void> {
    if (signal?.aborted) return;
    const db = this.#connect();
    const deadline = new AbortController();
    const stop = () => deadline.abort();
    signal?.addEventListener("abort", stop, { once: true });
    try {
      const late = this.#clock.sleep(ENSURE_TIMEOUT_MS, deadline.signal).then(() => {
        if (signal?.aborted) throw new Error("Making partitions was given up at a stop");
        if (deadline.signal.aborted) return new Promise<never>(() => {});
        throw new Error(`Making partitions did not finish within ${ENSURE_TIMEOUT_MS / 1000}s`);
      });
      const ensuring = ensureMonthPartitions(db, months);
      ensuring.catch(() => {});
      const created = await Promise.race([ensuring, late]);
      for (const month of months) this.#ensured.add(month);
      if (created.length > 0) this.#emit({ type: "partitionsCreated", months: created });
    } catch (error) {
      // Given up at a stop is no failure of the partitions: the next run makes them.
      if (signal?.aborted) return;
      this.#emit({
        type: "partitionsMissing",
        months,
        cause: classifyDatabaseError(error).message,
      });
    } finally {
      signal?.removeEventListener("abort", stop);
      deadline.abort();
      await closeDatabase(db, { timeoutSeconds: 0 }).catch(() => {});
    }
  }
}
