/**
 * The ingest on several threads. Each worker runs a whole ingest (receivers, batches, sealing, the
 * writer, deletes, the heartbeat) over the same queue and database; exactly-once holds between
 * them as it does between processes, by message id. This thread runs one of them itself (a
 * thread costs tens of MiB), starts the others, shares one
 * `--max-messages` quota among them, forwards their events, passes a stop on, and stops them all
 * when one fails.
 */
import { ConfigError } from "../config_error.ts";
import { ClassifiedError, type FailureKind } from "../failure.ts";
import type { SqsQueueOptions } from "../queue/sqs_queue.ts";
import type { SessionLimits } from "../store/database.ts";
import { KeyringError } from "../vault/keyring.ts";
import type { KmsOptions } from "../vault/kms_keys.ts";
import { emptyCounts, type IngestEvent, type IngestSummary } from "./events.ts";
import { DEFAULT_IN_FLIGHT_BYTES, ingest, type IngestOptions, type IngestParts } from "./ingest.ts";
import { sharedQuota, sharedQuotaCell } from "./quota.ts";

/** What a worker opens for itself: plain data, since objects with sockets cannot cross threads. */
export interface WorkerParts {
  readonly queue: { readonly url: string; readonly options: SqsQueueOptions };
  readonly database: {
    readonly url: string;
    readonly poolSize: number;
    readonly limits: SessionLimits;
  };
  /** The ingest keyring, read again by each worker (this thread has checked it already). */
  readonly keyring: {
    readonly path: string;
    readonly kms: KmsOptions | undefined;
    readonly allowReadable: boolean;
  };
  readonly dataKeys: { readonly maxUses: number; readonly maxAgeMs: number };
}

/** The ingest options a worker runs with: those that are plain data. */
export type WorkerIngestOptions = Omit<IngestOptions, "signal" | "onEvent" | "quota">;

/** From this thread to a worker. */
export type ToWorker =
  | {
    readonly type: "start";
    readonly parts: WorkerParts;
    readonly options: WorkerIngestOptions;
    readonly quota: BigInt64Array<SharedArrayBuffer>;
  }
  | { readonly type: "stop" };

/** A failure as it crosses threads: its class, safe message and code. */
export interface WorkerFailure {
  readonly name: string;
  readonly message: string;
  readonly kind?: FailureKind | undefined;
  readonly code?: string | undefined;
  readonly field?: string | undefined;
}

/** From a worker to this thread. */
export type FromWorker =
  | { readonly type: "event"; readonly event: IngestEvent }
  | { readonly type: "done"; readonly summary: IngestSummary }
  | { readonly type: "failed"; readonly failure: WorkerFailure };

/** How many workers run by default: one a core, each with its own SQS client and writer. */
export const DEFAULT_WORKERS = navigator.hardwareConcurrency;

/**
 * Runs `workers` ingests, one on this thread with `parts` and the others on threads of their own
 * with `workerParts`, and resolves to their summed summary, like `ingest()`: receivers and the
 * in-flight byte budget are shared out among them, events are forwarded (the in-flight gauges
 * summed), and a failure in one stops the others and is thrown.
 */
export async function ingestOnWorkers(
  parts: IngestParts,
  workerParts: WorkerParts,
  options: IngestOptions & { readonly workers: number },
): Promise<IngestSummary> {
  const started = Date.now();
  const count = Math.max(1, Math.min(options.workers, options.concurrency));
  const emit = (event: IngestEvent) => options.onEvent?.(event);
  const quota = sharedQuotaCell(options.maxMessages ?? Number.MAX_SAFE_INTEGER);
  const gauges = new InFlightGauges(count);
  const stop = new AbortController();
  const workers = Array.from({ length: count - 1 }, (_, i) => {
    const worker = new Worker(new URL("./ingest_worker.ts", import.meta.url), { type: "module" });
    const done = new Promise<IngestSummary>((resolve, reject) => {
      worker.onmessage = ({ data }: MessageEvent<FromWorker>) => {
        if (data.type === "done") resolve(data.summary);
        else if (data.type === "failed") reject(fromWorker(data.failure));
        else if (data.event.type === "inFlight") emit(gauges.sample(i + 1, data.event));
        else emit(data.event);
      };
      worker.onerror = (event) => {
        event.preventDefault();
        // A thread loads its modules as a dynamic import does: it needs read access to them.
        reject(
          /Requires read access/.test(event.message)
            ? new ConfigError(
              `Cannot start an ingest worker: ${event.message.split(",")[0]}; ` +
                "allow reading lib/, or run with --workers 1",
            )
            : new Error(`Worker ${i + 2} of the ingest failed: ${event.message}`),
        );
      };
    });
    const start: ToWorker = {
      type: "start",
      parts: workerParts,
      options: workerOptions(options, { index: i + 1, count }),
      quota,
    };
    worker.postMessage(start);
    return { worker, done };
  });
  const stopAll = () => {
    stop.abort();
    for (const { worker } of workers) worker.postMessage({ type: "stop" } satisfies ToWorker);
  };
  options.signal?.addEventListener("abort", stopAll, { once: true });
  if (options.signal?.aborted) stopAll();
  const here = ingest(parts, {
    ...workerOptions(options, { index: 0, count }),
    quota: sharedQuota(quota),
    signal: stop.signal,
    onEvent: (event) => {
      if (event.type === "inFlight") emit(gauges.sample(0, event));
      else if (event.type !== "stopped") emit(event);
    },
  });
  try {
    // The first failure stops the rest, which write and delete what they hold before they end.
    const results = await Promise.allSettled(
      [here, ...workers.map(({ done }) => done)].map((done) =>
        done.catch((error) => (stopAll(), Promise.reject(error)))
      ),
    );
    const failed = results.find((result) => result.status === "rejected");
    if (failed) throw failed.reason;
    const counts = emptyCounts();
    for (const result of results) {
      if (result.status !== "fulfilled") continue;
      for (const key of Object.keys(counts) as (keyof typeof counts)[]) {
        counts[key] += result.value[key];
      }
    }
    const summary = { ...counts, seconds: (Date.now() - started) / 1000 };
    emit({ type: "stopped", summary });
    return summary;
  } finally {
    options.signal?.removeEventListener("abort", stopAll);
    for (const { worker } of workers) worker.terminate();
  }
}

/** Worker `index`'s share of the options: its part of the receivers and of the byte budget. */
function workerOptions(
  options: IngestOptions,
  { index, count }: { index: number; count: number },
): WorkerIngestOptions {
  const { signal: _signal, onEvent: _onEvent, quota: _quota, ...plain } = options;
  const share = (total: number) => Math.floor(total / count) + (index < total % count ? 1 : 0);
  return {
    ...plain,
    concurrency: share(options.concurrency),
    maxInFlightBytes: Math.floor((options.maxInFlightBytes ?? DEFAULT_IN_FLIGHT_BYTES) / count),
  };
}

/** The latest in-flight sample of each worker, summed into one for the gauges. */
class InFlightGauges {
  readonly #samples: (IngestEvent & { type: "inFlight" })[];

  constructor(count: number) {
    const empty = { type: "inFlight", messages: 0, bytes: 0, oldestAgeSeconds: 0 } as const;
    this.#samples = Array.from({ length: count }, () => empty);
  }

  sample(index: number, event: IngestEvent & { type: "inFlight" }): IngestEvent {
    this.#samples[index] = event;
    return {
      type: "inFlight",
      messages: this.#samples.reduce((sum, s) => sum + s.messages, 0),
      bytes: this.#samples.reduce((sum, s) => sum + s.bytes, 0),
      oldestAgeSeconds: Math.max(...this.#samples.map((s) => s.oldestAgeSeconds)),
    };
  }
}

/** `error` as it can cross to this thread; its message is already safe to log. */
export function toWorkerFailure(error: unknown): WorkerFailure {
  if (error instanceof ClassifiedError) {
    const { name, message, kind, code, field } = error;
    return { name, message, kind, code, field };
  }
  if (error instanceof Error) return { name: error.name, message: error.message };
  return { name: "Error", message: String(error) };
}

/** A worker's failure as the class this thread maps to an exit code. */
function fromWorker(failure: WorkerFailure): Error {
  const { name, message, kind, code, field } = failure;
  if (kind !== undefined && code !== undefined) {
    return new ClassifiedError(message, { kind, code, field });
  }
  if (name === "ConfigError") return new ConfigError(message);
  if (name === "KeyringError") return new KeyringError(message);
  const error = new Error(message);
  error.name = name;
  return error;
}
