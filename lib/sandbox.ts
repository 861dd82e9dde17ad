/**
 * The one-command sandbox: embedded Postgres and an embedded SQS emulator, both kept under one
 * directory with the keyrings, so `deno task run` works with nothing installed or configured.
 */
import { EmbeddedSqs } from "./queue/embedded_sqs.ts";
import type { SqsQueue } from "./queue/sqs_queue.ts";
import sampleQueue from "./queue/sample_queue.jsonl" with { type: "text" };
import { EmbeddedPostgres } from "./store/embedded_postgres.ts";
import { createKeyrings, writeKeyring } from "./vault/keyring.ts";

/** The sandbox queue's name, as in the exercise. */
export const SANDBOX_QUEUE = "login-queue";

/** The 100 messages of the exercise's sample queue. */
export const SAMPLE_MESSAGES: readonly string[] = sampleQueue.split("\n").filter((l) => l !== "");

/** Open sandbox services; one process at a time holds a sandbox directory. */
export class Sandbox implements AsyncDisposable {
  readonly dataDir: string;
  readonly database: EmbeddedPostgres | undefined;
  readonly sqs: EmbeddedSqs | undefined;
  readonly #lock: Deno.FsFile;

  private constructor(
    dataDir: string,
    lock: Deno.FsFile,
    database: EmbeddedPostgres | undefined,
    sqs: EmbeddedSqs | undefined,
  ) {
    this.dataDir = dataDir;
    this.#lock = lock;
    this.database = database;
    this.sqs = sqs;
  }

  /** Locks `dataDir` (waiting for another vaultline process there) and starts the parts asked for. */
  static async open(
    dataDir: string,
    parts: { database: boolean; queue: boolean; log?: (line: string) => void },
  ): Promise<Sandbox> {
    const log = parts.log ?? (() => {});
    await Deno.mkdir(dataDir, { recursive: true });
    const lock = await Deno.open(`${dataDir}/lock`, { create: true, write: true });
    let database: EmbeddedPostgres | undefined;
    try {
      // Embedded Postgres is single-process: two processes on one data directory would corrupt it.
      const waiting = setTimeout(
        () => log(`Waiting for another vaultline process using "${dataDir}"`),
        1000,
      );
      await lock.lock(true).finally(() => clearTimeout(waiting));
      if (parts.database) {
        database = await EmbeddedPostgres.start({ dataDir: `${dataDir}/postgres` });
      }
      const sqs = parts.queue ? await EmbeddedSqs.start({ dataDir: `${dataDir}/sqs` }) : undefined;
      return new Sandbox(dataDir, lock, database, sqs);
    } catch (error) {
      await database?.close();
      lock.close();
      throw error;
    }
  }

  /** A client for the sandbox queue, created if missing. */
  openQueue(): SqsQueue {
    if (!this.sqs) throw new Error("The sandbox was opened without its queue");
    return this.sqs.openQueue(SANDBOX_QUEUE);
  }

  /** Writes `keyring.json` and `ingest.keyring.json` unless a keyring exists; true if it wrote them. */
  async ensureKeyrings(): Promise<boolean> {
    if (await exists(`${this.dataDir}/keyring.json`)) return false;
    const { full, ingest } = await createKeyrings();
    await writeKeyring(`${this.dataDir}/keyring.json`, full);
    await writeKeyring(`${this.dataDir}/ingest.keyring.json`, ingest);
    return true;
  }

  /** Sends the sample messages the first time the sandbox runs; returns how many it sent. */
  async seedOnce(): Promise<number> {
    const marker = `${this.dataDir}/seeded`;
    if (await exists(marker)) return 0;
    this.sqs!.createQueue(SANDBOX_QUEUE);
    for (const body of SAMPLE_MESSAGES) this.sqs!.sendMessage(SANDBOX_QUEUE, body);
    await Deno.writeTextFile(marker, `${new Date().toISOString()}\n`);
    return SAMPLE_MESSAGES.length;
  }

  async close(): Promise<void> {
    try {
      await this.sqs?.close();
      await this.database?.close();
    } finally {
      this.#lock.close();
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}
