/**
 * The writing stage: a batch parsed, sealed and written in one transaction. Each failure is
 * classified by the store: a transient one is retried with backoff on a fresh pool (the old pool
 * is dropped, so the server rolls back what it held; a commit that did land is found again by
 * message id); a permanent one ends the run; a poison one splits the batch in halves until the
 * message that causes it is alone, and after a few attempts that message goes to quarantine.
 */
import { ClassifiedError } from "../failure.ts";
import { type InboundMessage, parseMessage, type Rejection } from "../record/parse_message.ts";
import { closeDatabase, type Database } from "../store/database.ts";
import { classifyDatabaseError } from "../store/database_error.ts";
import { type BatchResult, type SealedBatch, writeBatch } from "../store/write_batch.ts";
import { backoff, type Clock } from "./clock.ts";
import type { IngestEvent } from "./events.ts";
import { type IngestVault, sealBatch } from "./seal_batch.ts";

/** Attempts at writing a message alone that fails with a poison error before it is quarantined. */
export const POISON_ATTEMPTS = 3;

/** The pause between those attempts: a poison failure is a property of the data, not of time. */
const POISON_RETRY_MS = 100;

/** What a write did with a batch's messages. */
export interface WriteOutcome<M extends InboundMessage> {
  /** Now in `user_logins` or `ingest_quarantine`, by this write or an earlier delivery. */
  readonly written: readonly M[];
  /** Not even `ingest_quarantine` would take them: they are left to the queue. */
  readonly unwritable: readonly M[];
}

/** Thrown by `write` once its signal aborted before the batch was written. */
export class WriteHalted extends Error {
  override name = "WriteHalted";
}

/** What a writer works with. */
export interface WriterParts {
  readonly connect: () => Database;
  readonly vault: IngestVault;
  readonly clock: Clock;
  readonly emit: (event: IngestEvent) => void;
}

/** Writes batches through pools it opens with `connect`, and closes them. */
export class BatchWriter implements AsyncDisposable {
  readonly #connect: () => Database;
  readonly #vault: IngestVault;
  readonly #clock: Clock;
  readonly #emit: (event: IngestEvent) => void;
  readonly #timeoutMs: number;
  #db: Database;
  #halted = false;

  constructor(parts: WriterParts, { timeoutMs }: { timeoutMs: number }) {
    this.#connect = parts.connect;
    this.#vault = parts.vault;
    this.#clock = parts.clock;
    this.#emit = parts.emit;
    this.#timeoutMs = timeoutMs;
    this.#db = parts.connect();
  }

  /**
   * Writes `messages`, retrying transient failures until they commit and isolating poison ones;
   * emits what it wrote. Throws a permanent `ClassifiedError`, or `WriteHalted` once `signal`
   * aborts (the write in progress is abandoned, and its pool dropped).
   */
  async write<M extends InboundMessage>(
    messages: readonly M[],
    { signal }: { signal?: AbortSignal | undefined } = {},
  ): Promise<WriteOutcome<M>> {
    return await this.#writeGroup(messages, signal);
  }

  /** Closes the current pool; after a halted write, at once. */
  async close(): Promise<void> {
    await closeDatabase(this.#db, this.#halted ? { timeoutSeconds: 0 } : {});
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  async #writeGroup<M extends InboundMessage>(
    messages: readonly M[],
    signal: AbortSignal | undefined,
  ): Promise<WriteOutcome<M>> {
    for (let attempt = 1;; attempt++) {
      const failure = await this.#attempt(messages.map(parseMessage), signal);
      if (failure === undefined) return { written: messages, unwritable: [] };
      if (failure.kind === "poison" && messages.length > 1) {
        this.#emit({
          type: "poison",
          count: messages.length,
          code: failure.code,
          field: failure.field,
        });
        const half = Math.ceil(messages.length / 2);
        const first = await this.#writeGroup(messages.slice(0, half), signal);
        const second = await this.#writeGroup(messages.slice(half), signal);
        return {
          written: [...first.written, ...second.written],
          unwritable: [...first.unwritable, ...second.unwritable],
        };
      }
      const [message] = messages;
      if (failure.kind === "poison" && attempt >= POISON_ATTEMPTS && message !== undefined) {
        return await this.#quarantine(message, failure, signal);
      }
      await this.#pause(attempt, messages.length, failure, signal);
    }
  }

  /** Writes `message` to quarantine with the database's reason; unwritable if that fails too. */
  async #quarantine<M extends InboundMessage>(
    message: M,
    rejectedBy: ClassifiedError,
    signal: AbortSignal | undefined,
  ): Promise<WriteOutcome<M>> {
    const rejection: Rejection = { ...message, reason: rejectedBy.message };
    for (let attempt = 1;; attempt++) {
      const failure = await this.#attempt([rejection], signal);
      if (failure === undefined) return { written: [message], unwritable: [] };
      if (failure.kind === "poison" && attempt >= POISON_ATTEMPTS) {
        this.#emit({ type: "unwritable", messageId: message.messageId, code: failure.code });
        return { written: [], unwritable: [message] };
      }
      await this.#pause(attempt, 1, failure, signal);
    }
  }

  /**
   * One transaction: seals `parsed` and writes it, within the write timeout. Resolves to
   * undefined once committed, or to the classified failure; throws a permanent one.
   */
  async #attempt(
    parsed: Parameters<typeof sealBatch>[0],
    signal: AbortSignal | undefined,
  ): Promise<ClassifiedError | undefined> {
    if (signal?.aborted) throw this.#halt();
    const started = this.#clock.now();
    const batch = await sealBatch(parsed, this.#vault);
    const pool = this.#db;
    try {
      const result = await this.#withDeadline(pool.begin((tx) => writeBatch(tx, batch)), signal);
      this.#report(batch, result, this.#clock.now() - started);
      return undefined;
    } catch (error) {
      if (error instanceof WriteHalted) throw error;
      const failure = classifyDatabaseError(error);
      if (failure.kind !== "poison") {
        // A connection that failed mid-write may never write again (postgres.js 3.4.9 keeps a
        // stale write timer), and a half-open one never answers: go on with a fresh pool.
        this.#db = this.#connect();
        closeDatabase(pool, { timeoutSeconds: 0 }).catch(() => {});
      }
      if (failure.kind === "permanent") throw failure;
      return failure;
    }
  }

  /** Reports a retry and waits before it: backoff for a transient failure, briefly for poison. */
  async #pause(
    attempt: number,
    count: number,
    failure: ClassifiedError,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    const delayMs = failure.kind === "poison" ? POISON_RETRY_MS * attempt : backoff(attempt);
    this.#emit({
      type: "retry",
      stage: "write",
      attempt,
      delayMs,
      count,
      code: failure.code,
      cause: failure.message,
    });
    await this.#clock.sleep(delayMs, signal);
    if (signal?.aborted) throw this.#halt();
  }

  #halt(): WriteHalted {
    this.#halted = true;
    return new WriteHalted("Stopped before the batch was written");
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

  /**
   * Settles like `write`; rejects with a transient failure once the write timeout passed, or with
   * `WriteHalted` once `signal` aborts, without waiting for it to settle.
   */
  async #withDeadline<T>(write: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
    // The abandoned write still settles later (its pool is dropped); that must not go unhandled.
    write.catch(() => {});
    let settled = false;
    const deadline = new AbortController();
    const stop = () => deadline.abort();
    signal?.addEventListener("abort", stop, { once: true });
    const late = this.#clock.sleep(this.#timeoutMs, deadline.signal).then(() => {
      if (settled) return new Promise<never>(() => {});
      if (signal?.aborted) throw this.#halt();
      const seconds = (this.#timeoutMs / 1000).toFixed(1);
      throw new ClassifiedError(`The write did not finish within ${seconds}s`, {
        kind: "transient",
        code: "WRITE_TIMEOUT",
      });
    });
    try {
      return await Promise.race([write, late]);
    } finally {
      settled = true;
      signal?.removeEventListener("abort", stop);
      deadline.abort();
    }
  }
}
