/**
 * The ingest's events as log lines: a level, an event name, a sentence for people and fields for
 * machines. Events carry ids, counts, codes and field names only, so no line holds a value.
 */
import type { IngestEvent, IngestSummary } from "../ingest/events.ts";
import type { Log } from "./log.ts";

/** Writes the log line of `event`, at debug level for routine progress. */
export function logIngestEvent(log: Log, event: IngestEvent): void {
  const seconds = (ms: number) => `${(ms / 1000).toFixed(1)}s`;
  switch (event.type) {
    case "retry": {
      const fields = {
        stage: event.stage,
        attempt: event.attempt,
        delayMs: event.delayMs,
        count: event.count,
        code: event.code,
      };
      const message = {
        migrate: `Cannot migrate the database (attempt ${event.attempt}), retrying in ${
          seconds(event.delayMs)
        }: ${event.cause}`,
        receive: `Cannot receive from the queue, retrying in ${
          seconds(event.delayMs)
        }: ${event.cause}`,
        write: `Cannot write a batch of ${event.count} messages (attempt ${event.attempt}), ` +
          `retrying in ${seconds(event.delayMs)}: ${event.cause}`,
        delete: `Cannot delete ${event.count} written messages, retrying in ${
          seconds(event.delayMs)
        }: ${event.cause}`,
        extend: `Cannot extend the visibility of ${event.count} waiting messages: ${event.cause}`,
        depth: `Cannot read the queue's depth: ${event.cause}`,
      }[event.stage];
      return log("warn", "retry", message, fields);
    }
    case "poison":
      return log(
        "warn",
        "poison",
        `A batch of ${event.count} messages failed with ${event.code}` +
          `${event.field === undefined ? "" : ` on "${event.field}"`}: splitting it to isolate` +
          " the message that causes it",
        { count: event.count, code: event.code, field: event.field },
      );
    case "unwritable":
      return log(
        "error",
        "unwritable",
        `Cannot write message "${event.messageId}" even to quarantine (${event.code}): ` +
          "left to the queue and its dead-letter queue",
        { messageId: event.messageId, code: event.code },
      );
    case "gaveUp":
      return log(
        "warn",
        "gave_up",
        `Gave up deleting ${event.count} written messages; a redelivery will skip them`,
        { stage: event.stage, count: event.count },
      );
    case "left":
      return log(
        "warn",
        "left",
        `Left ${event.count} messages to the queue (${event.written} of them written, ` +
          `${event.count - event.written} not): they will be delivered again`,
        { count: event.count, written: event.written },
      );
    case "partitionsCreated":
      return log(
        "info",
        "partitions_created",
        `Created the user_logins partitions of ${event.months.join(", ")}`,
        { months: event.months.join(",") },
      );
    case "partitionsMissing":
      return log(
        "warn",
        "partitions_missing",
        `Cannot create the user_logins partitions of ${event.months.join(", ")}, ` +
          `their rows go to user_logins_default meanwhile: ${event.cause}`,
        { months: event.months.join(",") },
      );
    case "quarantined":
      return log(
        "info",
        "quarantined",
        `Quarantined message "${event.messageId}": ${event.reason}`,
        { messageId: event.messageId, reason: event.reason },
      );
    case "received":
      if (event.count === 0) return;
      return log("debug", "received", `Received ${event.count} messages (${event.bytes} bytes)`, {
        count: event.count,
        bytes: event.bytes,
      });
    case "batchWritten":
      return log(
        "debug",
        "batch_written",
        `Wrote a batch of ${event.size} messages in ${event.ms} ms: ${event.inserted} ` +
          `inserted, ${event.quarantined} quarantined, ${event.duplicates} duplicates`,
        {
          size: event.size,
          ms: event.ms,
          inserted: event.inserted,
          quarantined: event.quarantined,
          duplicates: event.duplicates,
        },
      );
    case "deleted":
    case "extended":
    case "duplicate":
      return log("debug", event.type, `${event.type} ${event.count} messages`, {
        count: event.count,
      });
    case "inFlight":
      return;
    case "stopped":
      return log("debug", "stopped", describeSummary(event.summary).split("\n").join(";"), {
        ...event.summary,
      });
  }
}

/** The summary `run` prints, a few lines for people. */
export function describeSummary(summary: IngestSummary): string {
  if (summary.received === 0) return "Nothing new: the queue held no messages";
  const rate = summary.received / Math.max(summary.seconds, 0.001);
  return [
    `Received ${summary.received} messages in ${summary.seconds.toFixed(1)}s (${
      rate.toFixed(0)
    }/s)`,
    `  inserted     ${summary.inserted} rows into user_logins`,
    `  quarantined  ${summary.quarantined} into ingest_quarantine`,
    `  duplicates   ${summary.duplicates} already written, skipped`,
    `  deleted      ${summary.deleted} from the queue`,
    ...(summary.left === 0 ? [] : [`  left         ${summary.left} to the queue, delivered again`]),
  ].join("\n");
}
