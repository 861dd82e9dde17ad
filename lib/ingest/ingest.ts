/**
 * The ingest, as the data flows: receivers (paused while the in-flight ledger is full, by count
 * or by bytes) feed the batcher; each batch is parsed, sealed and written in one transaction; its
 * messages are deleted from the queue only after that commits, while a heartbeat keeps held
 * messages hidden. A crash between commit and delete is harmless: redelivered messages are found
 * by message id. A stop writes what is held until its deadline; what is left returns to the queue.
 * The partitions a batch's rows need are made ahead of its write.
 */
import { SQS_BATCH_MAX, type SqsQueue } from "../queue/sqs_queue.ts";
import type { Database } from "../store/database.ts";
import { Batcher } from "./batcher.ts";
import { type Clock, systemClock } from "./clock.ts";
import { Deleter } from "./deleter.ts";
import { countEvent, emptyCounts, type IngestEvent, type IngestSummary } from "./events.ts";
import { heartbeat } from "./heartbeat.ts";
import { InFlight } from "./in_flight.ts";
import { PartitionKeeper } from "./partition_keeper.ts";
import { localQuota, type MessageQuota } from "./quota.ts";
import { receiveMessages } from "./receiver.ts";
import type { IngestVault } from "./seal_batch.ts";
import { BatchWriter, WriteHalted } from "./writer.ts";

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
  /** What may still be received, shared with other workers; takes the place of `maxMessages`. */
  readonly quota?: MessageQuota | undefined;
  /**
   * Aborting stops receiving; what is held is still written and deleted until the stop timeout
   * passes. Then the ingest ends, and what it did not delete returns to the queue.
   */
  readonly signal?: AbortSignal | undefined;
  /** How long after the signal the ingest may go on writing and deleting (default 10). */
  readonly stopTimeoutSeconds?: number | undefined;
  /** Visibility timeout asked for on receive, and renewed while a message waits (default 60). */
  readonly visibilitySeconds?: number | undefined;
  /** A batch write that has not committed after this long is abandoned and retried (default 60). */
  readonly writeTimeoutSeconds?: number | undefined;
  /** How long a partial batch waits for more messages before it is written (default 500). */
  readonly batchWaitMs?: number | undefined;
  /**
   * Body bytes (UTF-16 code units) held between receive and delete before receiving pauses
   * (default `DEFAULT_IN_FLIGHT_BYTES`); a batch is cut at a quarter of it.
   */
  readonly maxInFlightBytes?: number | undefined;
  /** Receives every event; events never hold message contents. */
  readonly onEvent?: ((event: IngestEvent) => void) | undefined;
}

/** The default byte budget of messages held: 8 MiB of bodies, 32 of SQS's largest. */
export const DEFAULT_IN_FLIGHT_BYTES = 8 * 1024 * 1024;

/** The default time a stop may take: well under Kubernetes' 30 s grace period. */
export const DEFAULT_STOP_TIMEOUT_SECONDS = 10;

/** How often the in-flight gauges are sampled: a scrape every 15 s or so reads a fresh one. */
const IN_FLIGHT_SAMPLE_MS = 1000;

/** How long the ingest waits for SQS to take back what it leaves at a stop. */
const RETURN_TIMEOUT_MS = 2000;

/**
 * Drains the queue into the database until it is empty, `maxMessages`, or the signal. Throws a
 * permanent `ClassifiedError` (the queue is missing, access denied, authentication failed) at
 * once, leaving what it holds to the queue.
 */
export async function ingest(parts: IngestParts, options: IngestOptions): Promise<IngestSummary> {
  const clock = parts.clock ?? systemClock;
  const started = clock.now();
  const counts = emptyCounts();
  const emit = (event: IngestEvent) => {
    countEvent(counts, event);
    options.onEvent?.(event);
  };
  const visibilitySeconds = options.visibilitySeconds ?? 60;
  // `stop` ends receiving; `halt` ends writing and deleting: the stop deadline, or a failure.
  const stop = new AbortController();
  const halt = new AbortController();
  const deadline = new AbortController();
  let fatal: { error: unknown } | undefined;
  const fail = (error: unknown) => {
    fatal ??= { error };
    stop.abort();
    halt.abort();
  };
  const stopTimeoutMs = (options.stopTimeoutSeconds ?? DEFAULT_STOP_TIMEOUT_SECONDS) * 1000;
  const onAbort = () => {
    stop.abort();
    clock.sleep(stopTimeoutMs, deadline.signal).then(() => {
      if (!deadline.signal.aborted) halt.abort();
    });
  };
  options.signal?.addEventListener("abort", onAbort, { once: true });
  if (options.signal?.aborted) onAbort();

  // Bounded memory: receiving pauses while this many messages, or body bytes, are held.
  const maxBytes = options.maxInFlightBytes ?? DEFAULT_IN_FLIGHT_BYTES;
  const inFlight = new InFlight({
    maxMessages: 2 * options.batchSize + options.concurrency * SQS_BATCH_MAX,
    maxBytes,
  });
  const batcher = new Batcher({
    size: options.batchSize,
    maxBytes: maxBytes / 4,
    waitMs: options.batchWaitMs ?? 500,
    clock,
  });
  const edges = { queue: parts.queue, inFlight, clock, emit };
  const deleter = new Deleter({ ...edges, fail, signal: halt.signal });
  const beating = new AbortController();
  const beat = heartbeat(edges, { visibilitySeconds, signal: beating.signal });
  const sampling = sampleInFlight(inFlight, { clock, emit, signal: beating.signal });
  const writer = new BatchWriter({ connect: parts.connect, vault: parts.vault, clock, emit }, {
    timeoutMs: (options.writeTimeoutSeconds ?? 60) * 1000,
  });
  const partitions = new PartitionKeeper({ connect: parts.connect, clock, emit });
  // Best effort and off the critical path: the default partition takes rows meanwhile.
  const upcoming = partitions.ensureUpcoming({ signal: halt.signal });
  let seconds: number;
  try {
    try {
      const receiving = receiveMessages({ ...edges, batcher, fail }, {
        concurrency: options.concurrency,
        visibilitySeconds,
        untilEmpty: options.untilEmpty,
        quota: options.quota ?? localQuota(options.maxMessages ?? Infinity),
        stop,
      }).finally(() => batcher.close());
      try {
        for (let batch; !halt.signal.aborted && (batch = await batcher.next()) !== undefined;) {
          await partitions.ensureFor(batch, { signal: halt.signal });
          const outcome = await writer.write(batch, { signal: halt.signal });
          inFlight.markWritten(outcome.written);
          deleter.delete(outcome.written);
          // Left to the queue: it delivers them again after their visibility timeout.
          inFlight.release(outcome.unwritable);
        }
      } catch (error) {
        if (!(error instanceof WriteHalted)) fail(error);
      }
      stop.abort();
      await receiving;
    } finally {
      await upcoming;
      await deleter.settled();
      beating.abort();
      await beat;
      await sampling;
      await returnToQueue(parts.queue, inFlight, { clock, emit });
      deadline.abort();
      options.signal?.removeEventListener("abort", onAbort);
    }
    seconds = (clock.now() - started) / 1000;
  } finally {
    await writer.close();
  }
  if (fatal) throw fatal.error;
  const summary = { ...counts, seconds };
  emit({ type: "stopped", summary });
  return summary;
}

/** Emits an `inFlight` event every second until `signal` aborts, for gauges. */
async function sampleInFlight(
  inFlight: InFlight,
  { clock, emit, signal }: {
    clock: Clock;
    emit: (event: IngestEvent) => void;
    signal: AbortSignal;
  },
): Promise<void> {
  while (!signal.aborted) {
    await clock.sleep(IN_FLIGHT_SAMPLE_MS, signal);
    if (!signal.aborted) emit({ type: "inFlight", ...inFlight.sample(clock.now()) });
  }
}

/**
 * Reports what is still held at the end, and makes it visible again at once rather than after its
 * visibility timeout; a failure here only delays that.
 */
async function returnToQueue(
  queue: SqsQueue,
  inFlight: InFlight,
  { clock, emit }: { clock: Clock; emit: (event: IngestEvent) => void },
): Promise<void> {
  const held = inFlight.all();
  if (held.length === 0) return;
  emit({ type: "left", count: held.length, written: held.filter((h) => h.written).length });
  const messages = held.map((h) => h.message);
  inFlight.release(messages);
  const timeout = new AbortController();
  const timer = clock.sleep(RETURN_TIMEOUT_MS, timeout.signal).then(() => timeout.abort());
  try {
    await queue.extendVisibility(messages, 0, { signal: timeout.signal });
  } catch {
    // They return once their visibility timeout passes.
  } finally {
    timeout.abort();
    await timer;
  }
}
