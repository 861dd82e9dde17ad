/**
 * The running ingest's operations endpoint: `/healthz` while the process runs, `/readyz` while the
 * database answers with the current schema and the queue answers, and `/metrics` from the ingest's
 * events plus the audit's counts.
 */
import type { IngestEvent } from "../ingest/events.ts";
import { ClassifiedError } from "../failure.ts";
import type { SqsQueue } from "../queue/sqs_queue.ts";
import { closeDatabase, connectDatabase } from "../store/database.ts";
import { classifyDatabaseError } from "../store/database_error.ts";
import { auditCounts, databaseReadiness } from "../store/ops_probes.ts";
import { serveOps } from "./http.ts";
import { IngestMetrics } from "./metrics.ts";

/** A probe that has not answered by then counts as failed: Kubernetes' default timeout is 1 s. */
const PROBE_TIMEOUT_MS = 2000;

/** A started endpoint: feed it the ingest's events; dispose of it to stop serving. */
export interface OpsEndpoint extends AsyncDisposable {
  readonly onEvent: (event: IngestEvent) => void;
  /** From now on `/readyz` says not ready: the process is stopping. */
  stopping(): void;
}

/** Serves the endpoint on `address` for an ingest on `databaseUrl` and `queue`. */
export async function startOpsEndpoint(
  address: { hostname: string; port: number },
  { databaseUrl, queue }: { databaseUrl: string; queue: SqsQueue },
): Promise<OpsEndpoint> {
  const metrics = new IngestMetrics();
  // One connection for the probes, apart from the ingest's pools.
  const db = connectDatabase(databaseUrl, { max: 1 });
  let stopping = false;
  const server = await serveOps(address, {
    async ready() {
      if (stopping) return "stopping";
      const [database, sqs] = await Promise.all([
        bounded(databaseReadiness(db)).catch((error) =>
          `database: ${classifyDatabaseError(error).message}`
        ),
        bounded(queue.depth()).then(
          () => undefined,
          (error) => `queue: ${error instanceof Error ? error.message : "unreachable"}`,
        ),
      ]);
      const reasons = [database, sqs].filter((reason) => reason !== undefined);
      return reasons.length === 0 ? undefined : reasons.join("; ");
    },
    async metrics() {
      return metrics.render(await bounded(auditCounts(db)).catch(() => undefined));
    },
  });
  return {
    onEvent: metrics.onEvent,
    stopping: () => (stopping = true),
    async [Symbol.asyncDispose]() {
      await server.shutdown();
      await closeDatabase(db, { timeoutSeconds: 0 });
    },
  };
}

/** Settles like `probe`, or rejects after `PROBE_TIMEOUT_MS`. */
async function bounded<T>(probe: Promise<T>): Promise<T> {
  probe.catch(() => {});
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      probe,
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () =>
            reject(
              new ClassifiedError(`no answer within ${PROBE_TIMEOUT_MS / 1000}s`, {
                kind: "transient",
                code: "TIMEOUT",
              }),
            ),
          PROBE_TIMEOUT_MS,
        );
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
