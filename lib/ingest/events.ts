/**
 * What the ingest reports while it runs. The summary, the progress line, logs and metrics are
 * subscribers; none of them reaches into the pipeline. Events never hold message contents.
 */

import { ClassifiedError, describeError } from "../failure.ts";

/** The stage a retry happened in. */
export type IngestStage = "migrate" | "receive" | "write" | "delete" | "extend" | "depth";

export type IngestEvent =
  /** A receive returned `count` messages (0 for an empty receive) of `bytes` body bytes. */
  | { readonly type: "received"; readonly count: number; readonly bytes: number }
  /** A batch committed: `size` messages in `ms` milliseconds, sealing included. */
  | {
    readonly type: "batchWritten";
    readonly size: number;
    readonly ms: number;
    readonly inserted: number;
    readonly quarantined: number;
    readonly duplicates: number;
  }
  /** A message went to `ingest_quarantine`; `reason` names fields, never values. */
  | { readonly type: "quarantined"; readonly messageId: string; readonly reason: string }
  /** `count` messages of a batch were already written by an earlier delivery. */
  | { readonly type: "duplicate"; readonly count: number }
  /** `count` written messages were deleted from the queue. */
  | { readonly type: "deleted"; readonly count: number }
  /** The visibility of `count` held messages was extended. */
  | { readonly type: "extended"; readonly count: number }
  /**
   * A step of `stage` failed and is retried after `delayMs`. `code` is the failure's SQLSTATE,
   * SQS or system code; `cause` describes it, safe to log (never a driver's or SDK's text).
   */
  | {
    readonly type: "retry";
    readonly stage: IngestStage;
    readonly attempt: number;
    readonly delayMs: number;
    readonly count: number;
    readonly code: string;
    readonly cause: string;
  }
  /**
   * A batch of `count` messages failed with an error that is not transient (`code`, on `field`):
   * it is split in two halves, each written on its own, to isolate the message that causes it.
   */
  | {
    readonly type: "poison";
    readonly count: number;
    readonly code: string;
    readonly field: string | undefined;
  }
  /**
   * A message that not even `ingest_quarantine` would take: it is left to the queue, which
   * redelivers it after its visibility timeout and moves it to its dead-letter queue in the end.
   */
  | { readonly type: "unwritable"; readonly messageId: string; readonly code: string }
  /** `count` written messages could not be deleted; a redelivery will find them written. */
  | { readonly type: "gaveUp"; readonly stage: "delete"; readonly count: number }
  /** Partitions of `user_logins` were created for `months`. */
  | { readonly type: "partitionsCreated"; readonly months: readonly string[] }
  /**
   * The partitions of `months` could not be made sure of; their rows go to the default partition
   * meanwhile, and move into their month's partition once it is made.
   */
  | {
    readonly type: "partitionsMissing";
    readonly months: readonly string[];
    readonly cause: string;
  }
  /**
   * The ingest stopped holding `count` messages it had not deleted, `written` of them committed;
   * they return to the queue, and a redelivery of a written one adds nothing.
   */
  | { readonly type: "left"; readonly count: number; readonly written: number }
  /**
   * Sampled every second: the messages and body bytes held between receive and delete, and the
   * age of the oldest of them since SQS got it.
   */
  | {
    readonly type: "inFlight";
    readonly messages: number;
    readonly bytes: number;
    readonly oldestAgeSeconds: number;
  }
  /** The ingest ended. */
  | { readonly type: "stopped"; readonly summary: IngestSummary };

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
  /** Messages received and not deleted: left to the queue, which delivers them again. */
  left: number;
}

/** The totals of a finished ingest and how long it took. */
export interface IngestSummary extends Readonly<IngestCounts> {
  readonly seconds: number;
}

/** Totals of zero. */
export function emptyCounts(): IngestCounts {
  return { received: 0, inserted: 0, quarantined: 0, duplicates: 0, deleted: 0, left: 0 };
}

/** Adds what `event` reports to `counts`. */
export function countEvent(counts: IngestCounts, event: IngestEvent): void {
  switch (event.type) {
    case "received":
      counts.received += event.count;
      break;
    case "batchWritten":
      counts.inserted += event.inserted;
      counts.quarantined += event.quarantined;
      counts.duplicates += event.duplicates;
      break;
    case "deleted":
      counts.deleted += event.count;
      break;
    case "unwritable":
      counts.left += 1;
      break;
    case "gaveUp":
    case "left":
      counts.left += event.count;
      break;
  }
}

/** The code and safe description of a failure, for a retry event. */
export function failureOf(error: unknown): { code: string; cause: string } {
  const code = error instanceof ClassifiedError ? error.code : "unknown";
  return { code, cause: describeError(error) };
}
