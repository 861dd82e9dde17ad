/**
 * Before the ingest: the schema migrated and the database checked, retrying while the server is
 * unreachable, and giving up at once on what no retry heals.
 */
import { ClassifiedError } from "../failure.ts";
import { type Database, databaseEncoding } from "../store/database.ts";
import { classifyDatabaseError } from "../store/database_error.ts";
import { ConfigError } from "../config_error.ts";
import { migrateIfAllowed } from "../store/migrate.ts";
import { backoff, type Clock, systemClock } from "./clock.ts";
import type { IngestEvent } from "./events.ts";

/**
 * Migrates `db` and checks that its encoding is UTF-8; transient failures are retried with
 * backoff until `signal` aborts. Resolves to false when stopped first; throws a permanent
 * `ClassifiedError` (authentication, a missing database, an encoding other than UTF-8).
 */
export async function prepareDatabase(
  db: Database,
  { signal, clock = systemClock, emit = () => {} }: {
    signal?: AbortSignal | undefined;
    clock?: Clock | undefined;
    emit?: ((event: IngestEvent) => void) | undefined;
  } = {},
): Promise<boolean> {
  for (let attempt = 1; !signal?.aborted; attempt++) {
    try {
      const encoding = await untilAborted(
        (async () => {
          // Pending migrations when the user may apply them; else it says what to run.
          await migrateIfAllowed(db);
          return await databaseEncoding(db);
        })(),
        signal,
      );
      if (encoding === undefined) return false;
      if (encoding !== "UTF8") {
        throw new ClassifiedError(
          `Cannot use DATABASE_URL: the database's encoding is ${encoding}, and vaultline needs ` +
            "UTF8 (create it with ENCODING 'UTF8')",
          { kind: "permanent", code: "ENCODING" },
        );
      }
      return true;
    } catch (error) {
      if (error instanceof ConfigError) throw error;
      const failure = classifyDatabaseError(error);
      if (failure.kind !== "transient") throw failure;
      const delayMs = backoff(attempt);
      emit({
        type: "retry",
        stage: "migrate",
        attempt,
        delayMs,
        count: 0,
        code: failure.code,
        cause: failure.message,
      });
      await clock.sleep(delayMs, signal);
    }
  }
  return false;
}

/** Settles like `work`, or resolves to undefined once `signal` aborts. */
async function untilAborted<T>(
  work: Promise<T>,
  signal: AbortSignal | undefined,
): Promise<T | undefined> {
  if (!signal) return await work;
  work.catch(() => {});
  let onAbort = () => {};
  const aborted = new Promise<undefined>((resolve) => {
    onAbort = () => resolve(undefined);
    if (signal.aborted) resolve(undefined);
    signal.addEventListener("abort", onAbort, { once: true });
  });
  try {
    return await Promise.race([work, aborted]);
  } finally {
    signal.removeEventListener("abort", onAbort);
  }
}
