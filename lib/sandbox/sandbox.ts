/**
 * The one-command sandbox: embedded Postgres and an embedded SQS emulator, both kept under one
 * directory with the keyrings, so `deno task run` works with nothing installed or configured.
 * Loaded only when no service is configured.
 */
import { ConfigError } from "../config_error.ts";
import { createKeyrings, writeKeyrings } from "../vault/keyring.ts";
import { EmbeddedPostgres } from "./embedded_postgres.ts";
import { EmbeddedSqs } from "./embedded_sqs.ts";
import sampleQueue from "./sample_queue.jsonl" with { type: "text" };

/** The sandbox queue's name, as in the exercise. */
export const SANDBOX_QUEUE = "login-queue";

/** The 100 messages of the exercise's sample queue. */
export const SAMPLE_MESSAGES: readonly string[] = sampleQueue.split("\n").filter((l) => l !== "");

/** A locked sandbox directory and the embedded services started in it. */
export class Sandbox implements AsyncDisposable {
  readonly dataDir: string;
  readonly #lock: Deno.FsFile;
  readonly #started: AsyncDisposable[] = [];

  private constructor(dataDir: string, lock: Deno.FsFile) {
    this.dataDir = dataDir;
    this.#lock = lock;
  }

  /**
   * Locks `dataDir`, waiting for another vaultline process there: embedded Postgres is
   * single-process, and two processes on one data directory would corrupt it. With `existing`,
   * refuses a directory that `run` has not created yet.
   */
  static async open(
    dataDir: string,
    { existing = false, log = () => {} }: { existing?: boolean; log?: (line: string) => void } = {},
  ): Promise<Sandbox> {
    if (existing && !(await exists(`${dataDir}/postgres`))) {
      throw new ConfigError(
        `No sandbox database in "${dataDir}/postgres": run "deno task run" first, or set DATABASE_URL`,
      );
    }
    await Deno.mkdir(dataDir, { recursive: true });
    const lock = await Deno.open(`${dataDir}/lock`, { create: true, write: true });
    const waiting = setTimeout(
      () => log(`Waiting for another vaultline process using "${dataDir}"`),
      1000,
    );
    try {
      await lock.lock(true);
    } catch (error) {
      lock.close();
      throw error;
    } finally {
      clearTimeout(waiting);
    }
    return new Sandbox(dataDir, lock);
  }

  /** Starts the embedded database kept in `postgres/`. */
  async startDatabase(): Promise<EmbeddedPostgres> {
    const database = await EmbeddedPostgres.start({ dataDir: `${this.dataDir}/postgres` });
    this.#started.push(database);
    return database;
  }

  /** Starts the embedded SQS emulator kept in `sqs/`. */
  async startQueue(): Promise<EmbeddedSqs> {
    const sqs = await EmbeddedSqs.start({ dataDir: `${this.dataDir}/sqs` });
    this.#started.push(sqs);
    return sqs;
  }

  /** Writes `keyring.json` and `ingest.keyring.json` unless a keyring exists; true if it wrote them. */
  async ensureKeyrings(): Promise<boolean> {
    if (await exists(`${this.dataDir}/keyring.json`)) return false;
    const { full, ingest } = await createKeyrings();
    await writeKeyrings([
      { path: `${this.dataDir}/keyring.json`, file: full },
      { path: `${this.dataDir}/ingest.keyring.json`, file: ingest },
    ]);
    return true;
  }

  /** Sends the sample messages the first time the sandbox runs; returns how many it sent. */
  async seedOnce(sqs: EmbeddedSqs): Promise<number> {
    const marker = `${this.dataDir}/seeded`;
    if (await exists(marker)) return 0;
    sqs.createQueue(SANDBOX_QUEUE);
    for (const body of SAMPLE_MESSAGES) sqs.sendMessage(SANDBOX_QUEUE, body);
    await Deno.writeTextFile(marker, `${new Date().toISOString()}\n`);
    return SAMPLE_MESSAGES.length;
  }

  /** Stops the services, last started first, and unlocks the directory. */
  async close(): Promise<void> {
    try {
      for (const service of this.#started.splice(0).reverse()) {
        await service[Symbol.asyncDispose]();
      }
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
