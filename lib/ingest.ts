/**
 * The ingest: long-polling receivers gather messages into batches; each batch is written in one
 * transaction and its messages are deleted from the queue only after that commits. A crash between
 * commit and delete is harmless: the redelivered messages are found by message id and add nothing.
 */
import { type QueueMessage, SQS_BATCH_MAX, type SqsQueue } from "./queue/sqs_queue.ts";
import { parseMessage } from "./record/parse_message.ts";
import { closeDatabase, type Database } from "./store/database.ts";
import { writeBatch } from "./store/write_batch.ts";
import type { IngestVault } from "./vault/seal_batch.ts";

/** Running totals of an ingest. */
export interface IngestCounts {
  /** Messages received, redeliveries included. */
  received: number;
  /** New `user_logins` rows. */
  inserted: number;
  /** New `ingest_quarantine` rows. */
  quarantined: number;
  /** Messages already written by an earlier delivery. */
  duplicates: number;
  /** Messages deleted from the queue. */
  deleted: number;
}

/** The totals of a finished ingest and how long it took. */
export interface IngestSummary extends Readonly<IngestCounts> {
  readonly seconds: number;
}

/** How an ingest runs. */
export interface IngestOptions {
  /** Concurrent long-polling receivers. */
  readonly concurrency: number;
  /** Messages per transaction. */
  readonly batchSize: number;
  /** Stop once the queue holds no visible, in-flight or delayed message. */
  readonly untilEmpty: boolean;
  /** Stop receiving after this many messages. */
  readonly maxMessages?: number | undefined;
  /** Aborting stops receiving; what is in flight is still written and deleted. */
  readonly signal?: AbortSignal | undefined;
  /** Visibility timeout asked for on receive, and renewed while a message waits (default 60). */
  readonly visibilitySeconds?: number | undefined;
  /** A batch write that has not committed after this long is abandoned and retried (default 60). */
  readonly writeTimeoutSeconds?: number | undefined;
  /** How long a partial batch waits for more messages before it is written (default 500). */
  readonly batchWaitMs?: number | undefined;
  /** Called whenever a count changes. */
  readonly onProgress?: ((counts: Readonly<IngestCounts>) => void) | undefined;
  /** Receives one line per failure; lines never hold message contents. */
  readonly log?: ((line: string) => void) | undefined;
}

/** A received message not yet deleted, and when SQS will make it visible again. */
interface Held {
  readonly message: QueueMessage;
  visibleAt: number;
}

/**
 * Drains `queue` into the database until the queue is empty, `maxMessages` or the signal. The
 * ingest opens its pools with `connect` and closes them; a failed write gets a fresh pool.
 */
export async function ingest(
  { queue, connect, vault }: { queue: SqsQueue; connect: () => Database; vault: IngestVault },
  options: IngestOptions,
): Promise<IngestSummary> {
  const started = performance.now();
  const log = options.log ?? (() => {});
  const visibility = options.visibilitySeconds ?? 60;
  const writeTimeout = (options.writeTimeoutSeconds ?? 60) * 1000;
  const batchWait = options.batchWaitMs ?? 500;
  // Bounded memory: receiving pauses while this many messages are received but not deleted.
  const budget = 2 * options.batchSize + options.concurrency * SQS_BATCH_MAX;
  const counts: IngestCounts = {
    received: 0,
    inserted: 0,
    quarantined: 0,
    duplicates: 0,
    deleted: 0,
  };
  const held = new Map<string, Held>();
  const pending: QueueMessage[] = [];
  let pendingSince = 0;
  let requested = 0;
  let receivers = options.concurrency;
  const deletions = new Set<Promise<void>>();
  const changed = notifier();
  const stop = new AbortController();
  const onAbort = () => stop.abort();
  options.signal?.addEventListener("abort", onAbort, { once: true });
  stop.signal.addEventListener("abort", () => changed.notify(), { once: true });
  if (options.signal?.aborted) stop.abort();

  const progress = () => {
    options.onProgress?.(counts);
    changed.notify();
  };

  const receive = async (): Promise<void> => {
    for (let failures = 0; !stop.signal.aborted;) {
      if (held.size >= budget) {
        await changed.wait();
        continue;
      }
      const max = Math.min(SQS_BATCH_MAX, (options.maxMessages ?? Infinity) - requested);
      if (max <= 0) break;
      requested += max;
      let messages: QueueMessage[];
      try {
        messages = await queue.receive({
          max,
          // A drain checks for emptiness after each empty receive; following waits the longest.
          waitSeconds: options.untilEmpty ? 1 : 20,
          visibilitySeconds: visibility,
          signal: stop.signal,
        });
        failures = 0;
      } catch (error) {
        requested -= max;
        if (stop.signal.aborted) break;
        const delay = backoff(++failures);
        log(`Cannot receive from the queue, retrying in ${seconds(delay)}: ${describe(error)}`);
        await sleep(delay, stop.signal);
        continue;
      }
      requested -= max - messages.length;
      const visibleAt = Date.now() + visibility * 1000;
      for (const message of messages) {
        held.set(message.receiptHandle, { message, visibleAt });
        if (pending.length === 0) pendingSince = Date.now();
        pending.push(message);
      }
      counts.received += messages.length;
      progress();
      if (messages.length === 0 && options.untilEmpty && held.size === 0 && await drained()) {
        stop.abort();
      }
    }
  };

  const drained = async (): Promise<boolean> => {
    try {
      const depth = await queue.depth();
      return depth.visible === 0 && depth.inFlight === 0 && depth.delayed === 0;
    } catch (error) {
      log(`Cannot read the queue's depth: ${describe(error)}`);
      return false;
    }
  };

  let db = connect();
  const commit = async (batch: readonly QueueMessage[]): Promise<void> => {
    const parsed = batch.map(parseMessage);
    for (let attempt = 1;; attempt++) {
      const pool = db;
      try {
        const result = await withDeadline(
          pool.begin((tx) => writeBatch(tx, parsed, { vault })),
          writeTimeout,
        );
        counts.inserted += result.inserted;
        counts.quarantined += result.quarantined;
        counts.duplicates += result.duplicates;
        progress();
        return;
      } catch (error) {
        // A connection that failed mid-write may never write again (postgres.js 3.4.9 keeps a
        // stale write timer), and a half-open one never answers: retry on a fresh pool. Dropping
        // the old one rolls back whatever it still held; a commit that did land is found by
        // message id. Nothing of the batch is deleted until it commits.
        db = connect();
        closeDatabase(pool, { timeoutSeconds: 0 }).catch(() => {});
        const delay = backoff(attempt);
        log(
          `Cannot write a batch of ${batch.length} messages (attempt ${attempt}), ` +
            `retrying in ${seconds(delay)}: ${describe(error)}`,
        );
        await sleep(delay);
      }
    }
  };

  const remove = async (batch: readonly QueueMessage[]): Promise<void> => {
    let left = batch;
    for (let attempt = 1;; attempt++) {
      let refused: readonly QueueMessage[] = left;
      try {
        refused = await queue.delete(left);
      } catch (error) {
        log(`Cannot delete ${left.length} written messages: ${describe(error)}`);
      }
      const kept = new Set(refused);
      for (const message of left) if (!kept.has(message)) held.delete(message.receiptHandle);
      counts.deleted += left.length - refused.length;
      left = refused;
      const givingUp = left.length > 0 && attempt === 5;
      if (givingUp) {
        // They are written; a redelivery finds them by message id and is deleted then.
        log(`Gave up deleting ${left.length} written messages; a redelivery will skip them`);
        for (const message of left) held.delete(message.receiptHandle);
      }
      progress();
      if (left.length === 0 || givingUp) return;
      await sleep(backoff(attempt));
    }
  };

  const write = async (): Promise<void> => {
    while (true) {
      const full = pending.length >= options.batchSize;
      const due = pending.length > 0 && (receivers === 0 || Date.now() - pendingSince >= batchWait);
      if (full || due) {
        const batch = pending.splice(0, options.batchSize);
        pendingSince = Date.now();
        await commit(batch);
        const deletion = remove(batch).finally(() => deletions.delete(deletion));
        deletions.add(deletion);
      } else if (receivers === 0) {
        return;
      } else {
        await changed.wait(batchWait);
      }
    }
  };

  let extending = false;
  const extend = async (): Promise<void> => {
    if (extending) return;
    extending = true;
    try {
      const soon = Date.now() + (visibility * 1000) / 2;
      const due = [...held.values()].filter((h) => h.visibleAt < soon);
      if (due.length === 0) return;
      const refused = new Set(await queue.extendVisibility(due.map((h) => h.message), visibility));
      const visibleAt = Date.now() + visibility * 1000;
      for (const h of due) if (!refused.has(h.message)) h.visibleAt = visibleAt;
    } catch (error) {
      log(`Cannot extend the visibility of waiting messages: ${describe(error)}`);
    } finally {
      extending = false;
    }
  };
  const heartbeat = setInterval(extend, (visibility * 1000) / 6);
  // Dropping a pool mid-transaction rejects queries of postgres.js's own that nothing awaits;
  // those rejections are expected here and must not end the process.
  const onDropped = (event: PromiseRejectionEvent) => {
    if ((event.reason as { code?: unknown } | null)?.code === "CONNECTION_DESTROYED") {
      event.preventDefault();
    }
  };
  globalThis.addEventListener("unhandledrejection", onDropped);

  try {
    const receiving = Array.from({ length: options.concurrency }, () =>
      receive().finally(() => {
        receivers--;
        changed.notify();
      }));
    const writing = write();
    try {
      await Promise.all([writing, ...receiving]);
    } catch (error) {
      stop.abort();
      changed.notify();
      await Promise.allSettled([writing, ...receiving]);
      throw error;
    }
    while (deletions.size > 0) await Promise.all(deletions);
  } finally {
    clearInterval(heartbeat);
    options.signal?.removeEventListener("abort", onAbort);
    changed.close();
    try {
      await closeDatabase(db);
    } finally {
      globalThis.removeEventListener("unhandledrejection", onDropped);
    }
  }
  return { ...counts, seconds: (performance.now() - started) / 1000 };
}

/** Exponential backoff with jitter: about 0.5 s, 1 s, 2 s ... capped near 30 s. */
function backoff(attempt: number): number {
  const base = Math.min(30_000, 500 * 2 ** Math.min(attempt - 1, 10));
  return Math.round(base * (0.5 + Math.random() / 2));
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)}s`;
}

/** An error's message, one line; driver and SDK messages hold no message contents. */
function describe(error: unknown): string {
  const message = error instanceof Error ? error.message || error.name : String(error);
  return message.split("\n")[0] ?? "";
}

/** Settles like `promise`, or rejects once `ms` have passed without it settling. */
async function withDeadline<T>(promise: Promise<T>, ms: number): Promise<T> {
  // The abandoned promise still settles later (the pool is dropped); that must not go unhandled.
  promise.catch(() => {});
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`The write did not finish within ${seconds(ms)}`)),
      ms,
    );
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Resolves after `ms`, or early when `signal` aborts. */
function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}

/** Wakes every waiter when something changed; `wait(ms)` also wakes after `ms`. */
function notifier() {
  let wake = () => {};
  let next = new Promise<void>((resolve) => (wake = resolve));
  return {
    notify(): void {
      const current = wake;
      next = new Promise<void>((resolve) => (wake = resolve));
      current();
    },
    wait(ms?: number): Promise<void> {
      if (ms === undefined) return next;
      return new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, ms);
        next.then(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    },
    /** Wakes the current waiters and clears their timers. */
    close(): void {
      wake();
    },
  };
}
