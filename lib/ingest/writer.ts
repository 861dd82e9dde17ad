/**
 * The writing stage: a sealed batch in one transaction, retried until it commits. A failed or
 * overdue write is retried on a fresh pool, and the old pool is dropped so the server rolls back
 * what it held; a commit that did land is found again by message id.
 */
import { closeDatabase, type Database } from "../store/database.ts";
import { type BatchResult, type SealedBatch, writeBatch } from "../store/write_batch.ts";
import { backoff, type Clock } from "./clock.ts";
import { causeOf, type IngestEvent } from "./events.ts";

/** Writes batches through pools it opens with `connect`, and closes them. */
export class BatchWriter implements AsyncDisposable {
  readonly #connect: () => Database;
  readonly #clock: Clock;
  readonly #emit: (event: IngestEvent) => void;
  readonly #timeoutMs: number;
  #db: Database;

  constructor(
    parts: { connect: () => Database; clock: Clock; emit: (event: IngestEvent) => void },
    { timeoutMs }: { timeoutMs: number },
  ) {
    this.#connect = parts.connect;
    this.#clock = parts.clock;
    this.#emit = parts.emit;
    this.#timeoutMs = timeoutMs;
    this.#db = parts.connect();
    if (openWriters++ === 0) {
      globalThis.addEventListener("unhandledrejection", ignoreDroppedConnection);
    }
  }

  /** Writes `batch`, retrying with backoff until it commits; emits what it wrote. */
  async write(batch: SealedBatch): Promise<BatchResult> {
    const started = this.#clock.now();
    for (let attempt = 1;; attempt++) {
      const pool = this.#db;
      try {
        const result = await this.#withDeadline(pool.begin((tx) => writeBatch(tx, batch)));
        this.#report(batch, result, this.#clock.now() - started);
        return result;
      } catch (error) {
        // A connection that failed mid-write may never write again (postgres.js 3.4.9 keeps a
        // stale write timer), and a half-open one never answers: retry on a fresh pool.
        this.#db = this.#connect();
        closeDatabase(pool, { timeoutSeconds: 0 }).catch(() => {});
        const delayMs = backoff(attempt);
        this.#emit({
          type: "retry",
          stage: "write",
          attempt,
          delayMs,
          count: batch.messages,
          cause: causeOf(error),
        });
        await this.#clock.sleep(delayMs);
      }
    }
  }

  /** Closes the current pool. */
  async close(): Promise<void> {
    try {
      await closeDatabase(this.#db);
    } finally {
      if (--openWriters === 0) {
        globalThis.removeEventListener("unhandledrejection", ignoreDroppedConnection);
      }
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #report(batch: SealedBatch, result: BatchResult, ms: number): void {
    this.#emit({
      type: "batchWritten",
      size: batch.messages,
      ms,
      inserted: result.inserted,
      quarantined: result.quarantined.length,
      duplicates: result.duplicates,
    });
    const reasons = new Map(batch.quarantine.map((row) => [row.messageId, row.reason]));
    for (const messageId of result.quarantined) {
      this.#emit({ type: "quarantined", messageId, reason: reasons.get(messageId) ?? "" });
    }
    if (result.duplicates > 0) this.#emit({ type: "duplicate", count: result.duplicates });
  }

  /** Settles like `write`, or rejects once the write timeout passed without it settling. */
  async #withDeadline<T>(write: Promise<T>): Promise<T> {
    // The abandoned write still settles later (its pool is dropped); that must not go unhandled.
    write.catch(() => {});
    const deadline = new AbortController();
    const late = this.#clock.sleep(this.#timeoutMs, deadline.signal).then(() => {
      if (deadline.signal.aborted) return new Promise<never>(() => {});
      throw new Error(`The write did not finish within ${(this.#timeoutMs / 1000).toFixed(1)}s`);
    });
    try {
      return await Promise.race([write, late]);
    } finally {
      deadline.abort();
    }
  }
}

/** Writers open in this thread; the listener below is installed while any is. */
let openWriters = 0;

/**
 * Dropping a pool mid-transaction rejects queries of postgres.js's own that nothing awaits;
 * those rejections are expected while a writer runs and must not end the process.
 */
function ignoreDroppedConnection(event: PromiseRejectionEvent): void {
  if ((event.reason as { code?: unknown } | null)?.code === "CONNECTION_DESTROYED") {
    event.preventDefault();
  }
}
