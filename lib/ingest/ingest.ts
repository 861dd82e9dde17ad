/**
 * The ingest, as the data flows: receivers (paused while the in-flight ledger is full) feed the
 * batcher; each batch is parsed, sealed and written in one transaction; its messages are deleted
 * from the queue only after that commits, while a heartbeat keeps held messages hidden. A crash
 * between commit and delete is harmless: redelivered messages are found by message id. The
 * partitions a batch's rows need are made ahead of its write.
 */
import { SQS_BATCH_MAX, type SqsQueue } from "../queue/sqs_queue.ts";
import { parseMessage } from "../record/parse_message.ts";
import type { Database } from "../store/database.ts";
import { Batcher } from "./batcher.ts";
import { type Clock, systemClock } from "./clock.ts";
import { Deleter } from "./deleter.ts";
import { countEvent, emptyCounts, type IngestEvent, type IngestSummary } from "./events.ts";
import { heartbeat } from "./heartbeat.ts";
import { InFlight } from "./in_flight.ts";
import { PartitionKeeper } from "./partition_keeper.ts";
import { receiveMessages } from "./receiver.ts";
import { type IngestVault, sealBatch } from "./seal_batch.ts";
import { BatchWriter } from "./writer.ts";

/** The parts an ingest works with; the ingest opens its pools with `connect` and closes them. */
export interface IngestParts {
  readonly queue: SqsQueue;
  readonly connect: () => Database;
  readonly vault: IngestVault;
  /** Defaults to the system clock. */
  readonly clock?: Clock | undefined;
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
  /** Receives every event; events never hold message contents. */
  readonly onEvent?: ((event: IngestEvent) => void) | undefined;
}

/** Drains the queue into the database until it is empty, `maxMessages`, or the signal. */
export async function ingest(parts: IngestParts, options: IngestOptions): Promise<IngestSummary> {
  const clock = parts.clock ?? systemClock;
  const started = clock.now();
  const counts = emptyCounts();
  const emit = (event: IngestEvent) => {
    countEvent(counts, event);
    options.onEvent?.(event);
  };
  const visibilitySeconds = options.visibilitySeconds ?? 60;
  const stop = new AbortController();
  const onAbort = () => stop.abort();
  options.signal?.addEventListener("abort", onAbort, { once: true });
  if (options.signal?.aborted) stop.abort();

  // Bounded memory: receiving pauses while this many messages are received but not deleted.
  const inFlight = new InFlight({
    maxMessages: 2 * options.batchSize + options.concurrency * SQS_BATCH_MAX,
  });
  const batcher = new Batcher({
    size: options.batchSize,
    waitMs: options.batchWaitMs ?? 500,
    clock,
  });
  const edges = { queue: parts.queue, inFlight, clock, emit };
  const deleter = new Deleter(edges);
  const beating = new AbortController();
  const beat = heartbeat(edges, { visibilitySeconds, signal: beating.signal });
  await using writer = new BatchWriter({ connect: parts.connect, clock, emit }, {
    timeoutMs: (options.writeTimeoutSeconds ?? 60) * 1000,
  });
  const partitions = new PartitionKeeper({ connect: parts.connect, clock, emit });
  try {
    await partitions.ensureUpcoming();
    const receiving = receiveMessages({ ...edges, batcher }, {
      concurrency: options.concurrency,
      visibilitySeconds,
      untilEmpty: options.untilEmpty,
      maxMessages: options.maxMessages ?? Infinity,
      stop,
    }).finally(() => batcher.close());
    try {
      for (let batch; (batch = await batcher.next()) !== undefined;) {
        const sealed = await sealBatch(batch.map(parseMessage), parts.vault);
        await partitions.ensureFor(sealed.logins);
        await writer.write(sealed);
        deleter.delete(batch);
      }
    } catch (error) {
      stop.abort();
      await receiving.catch(() => {});
      throw error;
    }
    await receiving;
  } finally {
    await deleter.settled();
    beating.abort();
    await beat;
    options.signal?.removeEventListener("abort", onAbort);
  }
  const summary = { ...counts, seconds: (clock.now() - started) / 1000 };
  emit({ type: "stopped", summary });
  return summary;
}
