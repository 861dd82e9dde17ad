/** What a test of the command needs: a database, an SQS emulator with the queue, keyring files. */
import type { IngestSummary } from "../lib/ingest/events.ts";
import type { SqsQueue } from "../lib/queue/sqs_queue.ts";
import { EmbeddedSqs } from "../lib/sandbox/embedded_sqs.ts";
import type { Database } from "../lib/store/database.ts";
import { migrate } from "../lib/store/migrate.ts";
import { createKeyrings, writeKeyrings } from "../lib/vault/keyring.ts";
import { TestDatabase } from "./test_database.ts";

/** The queue every command test drains. */
export const QUEUE = "login-queue";

/** What `processSetup` made; disposing it frees all of it. */
export interface ProcessSetup extends AsyncDisposable {
  readonly database: TestDatabase;
  readonly sqs: EmbeddedSqs;
  /** A client of the queue, for the test's own checks. */
  readonly queue: SqsQueue;
  readonly queueUrl: string;
  /** A pool on the database, for the test's own checks. */
  readonly db: Database;
  /** The command's environment; SQS or the database may be reached through a proxy. */
  readonly env: (sqsEndpoint?: string, databaseUrl?: string) => Record<string, string>;
  readonly keyrings: { readonly full: string; readonly ingest: string };
  /** A temporary directory, removed at the end. */
  readonly dir: string;
  /** Sends `bodies` to the queue directly. */
  readonly send: (bodies: readonly string[]) => void;
}

/**
 * A migrated test database, an emulator with the queue, a full and an ingest keyring file, and
 * the ingest's environment (`env(endpoint)` reaches SQS through another endpoint, a proxy).
 */
export async function processSetup(): Promise<ProcessSetup> {
  const database = await TestDatabase.create();
  const sqs = await EmbeddedSqs.start();
  const queueUrl = sqs.createQueue(QUEUE);
  const queue = sqs.openQueue(QUEUE);
  const dir = await Deno.makeTempDir();
  const { full, ingest } = await createKeyrings();
  const keyrings = { full: `${dir}/full.json`, ingest: `${dir}/ingest.json` };
  await writeKeyrings([
    { path: keyrings.full, file: full },
    { path: keyrings.ingest, file: ingest },
  ]);
  const db = database.connect();
  await migrate(db);
  const env = (
    sqsEndpoint = sqs.endpoint,
    databaseUrl = database.url,
  ): Record<string, string> => ({
    DATABASE_URL: databaseUrl,
    SQS_QUEUE_URL: queueUrl,
    SQS_ENDPOINT: sqsEndpoint,
    VAULT_KEYRING: keyrings.ingest,
    AWS_ACCESS_KEY_ID: "test",
    AWS_SECRET_ACCESS_KEY: "test",
  });
  return {
    database,
    sqs,
    queue,
    queueUrl,
    db,
    env,
    keyrings,
    dir,
    send: (bodies: readonly string[]) => bodies.forEach((body) => sqs.sendMessage(QUEUE, body)),
    async [Symbol.asyncDispose]() {
      queue.close();
      await sqs.close();
      await database[Symbol.asyncDispose]();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

/** Rows, distinct message ids among them, and quarantined messages. */
export async function counts(
  db: Database,
): Promise<{ rows: number; distinct: number; quarantined: number }> {
  const [row] = await db<{ rows: number; distinct: number; quarantined: number }[]>`
    SELECT (SELECT count(*)::int FROM user_logins) AS rows,
           (SELECT count(DISTINCT message_id)::int FROM user_logins) AS distinct,
           (SELECT count(*)::int FROM ingest_quarantine) AS quarantined`;
  return row!;
}

/** The summary `run --json` printed last on stdout. */
export function summaryOf(stdout: string): IngestSummary {
  return JSON.parse(stdout.trim().split("\n").at(-1)!);
}
