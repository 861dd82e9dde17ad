/**
 * Prometheus metrics fed by ingest events. Labels hold stages, codes and outcomes only, never a
 * value from a message.
 */
import type { IngestEvent } from "../ingest/events.ts";

/** Messages per batch: the batch size option runs from 1 to 1000. */
const BATCH_SIZE_BUCKETS = [1, 10, 50, 100, 250, 500, 1000] as const;
/** Seconds per batch write, sealing included: the write deadline defaults to 60 s. */
const WRITE_SECONDS_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60] as const;

/** Held-message figures sampled by the ingest. */
export interface InFlightSample {
  readonly messages: number;
  readonly bytes: number;
  readonly oldestAgeSeconds: number;
}

/** The ingest's metrics: `onEvent` subscribes to the ingest, `render` is the `/metrics` body. */
export class IngestMetrics {
  readonly #counters = new Map<string, number>();
  readonly #batchSize = histogram(BATCH_SIZE_BUCKETS);
  readonly #writeSeconds = histogram(WRITE_SECONDS_BUCKETS);
  #inFlight: InFlightSample = { messages: 0, bytes: 0, oldestAgeSeconds: 0 };

  /** Counts what `event` reports. */
  readonly onEvent = (event: IngestEvent): void => {
    switch (event.type) {
      case "received":
        this.#add("vaultline_messages_received_total", event.count);
        break;
      case "batchWritten":
        this.#add("vaultline_messages_inserted_total", event.inserted);
        this.#add("vaultline_messages_quarantined_total", event.quarantined);
        this.#add("vaultline_messages_duplicate_total", event.duplicates);
        this.#batchSize.observe(event.size);
        this.#writeSeconds.observe(event.ms / 1000);
        break;
      case "deleted":
        this.#add("vaultline_messages_deleted_total", event.count);
        break;
      case "extended":
        this.#add("vaultline_visibility_extensions_total", event.count);
        break;
      case "retry":
        this.#add(
          `vaultline_retries_total{stage="${event.stage}",cause="${label(event.code)}"}`,
          1,
        );
        break;
      case "inFlight":
        this.#inFlight = event;
        break;
    }
  };

  /**
   * The Prometheus text exposition; `audit` holds the audit's rows by kind (counts only), or is
   * undefined when the database could not be asked.
   */
  render(audit?: Readonly<Record<string, number>>): string {
    const lines: string[] = [];
    const family = (name: string, type: string, help: string) =>
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    const counter = (name: string, help: string) => {
      family(name, "counter", help);
      const series = [...this.#counters].filter(([key]) => key.split("{")[0] === name);
      if (series.length === 0) lines.push(`${name} 0`);
      for (const [key, value] of series) lines.push(`${key} ${value}`);
    };
    counter(
      "vaultline_messages_received_total",
      "Messages received from SQS, redeliveries included.",
    );
    counter("vaultline_messages_inserted_total", "Rows written to user_logins.");
    counter("vaultline_messages_quarantined_total", "Messages written to ingest_quarantine.");
    counter(
      "vaultline_messages_duplicate_total",
      "Messages already written by an earlier delivery.",
    );
    counter("vaultline_messages_deleted_total", "Written messages deleted from SQS.");
    counter("vaultline_visibility_extensions_total", "Visibility extensions of held messages.");
    counter("vaultline_retries_total", "Retried steps, by stage and error code.");
    family("vaultline_batch_size", "histogram", "Messages per batch write.");
    lines.push(...this.#batchSize.render("vaultline_batch_size"));
    family("vaultline_batch_write_seconds", "histogram", "Seconds per batch: seal and commit.");
    lines.push(...this.#writeSeconds.render("vaultline_batch_write_seconds"));
    family("vaultline_in_flight_messages", "gauge", "Messages received and not yet deleted.");
    lines.push(`vaultline_in_flight_messages ${this.#inFlight.messages}`);
    family("vaultline_in_flight_bytes", "gauge", "Body bytes of the messages in flight.");
    lines.push(`vaultline_in_flight_bytes ${this.#inFlight.bytes}`);
    family("vaultline_oldest_message_age_seconds", "gauge", "Age of the oldest message held.");
    lines.push(`vaultline_oldest_message_age_seconds ${this.#inFlight.oldestAgeSeconds}`);
    if (audit !== undefined) {
      // A reveal's row is written before anything is decrypted; a failed one adds a second row.
      family("vaultline_reveals_total", "counter", "Reveals in the audit, by outcome.");
      lines.push(`vaultline_reveals_total{outcome="recorded"} ${audit.reveal ?? 0}`);
      lines.push(`vaultline_reveals_total{outcome="failed"} ${audit.reveal_failed ?? 0}`);
      family("vaultline_audit_rows_total", "counter", "Rows of the audit, by kind.");
      for (const [kind, count] of Object.entries(audit).sort()) {
        lines.push(`vaultline_audit_rows_total{kind="${label(kind)}"} ${count}`);
      }
    }
    return lines.join("\n") + "\n";
  }

  #add(key: string, n: number): void {
    this.#counters.set(key, (this.#counters.get(key) ?? 0) + n);
  }
}

/** A label value as Prometheus reads it: backslash, quote and newline escaped. */
function label(value: string): string {
  return value.replaceAll("\\", "\\\\").replaceAll('"', '\\"').replaceAll("\n", "\\n");
}

function histogram(buckets: readonly number[]) {
  const counts = buckets.map(() => 0);
  let count = 0;
  let sum = 0;
  return {
    observe(value: number): void {
      count++;
      sum += value;
      buckets.forEach((bound, i) => {
        if (value <= bound) counts[i]!++;
      });
    },
    render(name: string): string[] {
      return [
        ...buckets.map((bound, i) => `${name}_bucket{le="${bound}"} ${counts[i]}`),
        `${name}_bucket{le="+Inf"} ${count}`,
        `${name}_sum ${sum}`,
        `${name}_count ${count}`,
      ];
    },
  };
}
