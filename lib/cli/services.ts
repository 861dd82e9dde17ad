/**
 * The database and queue a command works on: embedded in the sandbox (loaded only then), real in
 * a deployment.
 */
import { S3Archive } from "../archive/s3_archive.ts";
import { ConfigError } from "../config_error.ts";
import { SqsQueue } from "../queue/sqs_queue.ts";
import type { Sandbox } from "../sandbox/sandbox.ts";
import {
  type KmsSettings,
  type QueueSettings,
  requireDatabaseUrl,
  requireQueue,
  type Settings,
} from "../settings.ts";
import type { Database } from "../store/database.ts";
import { migrateIfAllowed, requireCurrentSchema } from "../store/migrate.ts";
import {
  type Keyring,
  KeyringError,
  type KeyringFile,
  readKeyring,
  readKeyringFile,
} from "../vault/keyring.ts";

/** The ingest's database and queue; disposing stops what the sandbox started. */
export interface IngestServices extends AsyncDisposable {
  readonly databaseUrl: string;
  readonly queue: SqsQueue;
  /** The sandbox, when the services are embedded. */
  readonly sandbox: Sandbox | undefined;
}

/** Opens the ingest's services; the sandbox's queue is seeded with the sample on first use. */
export async function openIngestServices(
  settings: Settings,
  log: (line: string) => void,
): Promise<IngestServices> {
  if (settings.mode === "deployed") {
    const why = "set both SQS_QUEUE_URL and DATABASE_URL, or neither for the sandbox";
    const databaseUrl = requireDatabaseUrl(settings, why);
    const queue = openQueue(requireQueue(settings, why));
    return {
      databaseUrl,
      queue,
      sandbox: undefined,
      [Symbol.asyncDispose]: () => Promise.resolve(queue.close()),
    };
  }
  return await inSandbox(settings.dataDir, { log }, async (sandbox, name) => {
    const database = await sandbox.startDatabase();
    const sqs = await sandbox.startQueue();
    if (await sandbox.ensureKeyrings()) log(`Created a keyring pair in "${settings.dataDir}/"`);
    const seeded = await sandbox.seedOnce(sqs);
    if (seeded > 0) log(`Seeded the sandbox queue with ${seeded} sample messages`);
    const queue = sqs.openQueue(name);
    return { databaseUrl: database.url, queue, sandbox, close: () => queue.close() };
  });
}

/**
 * A database URL for a command that needs only the database. The sandbox's must exist unless
 * `create` is set.
 */
export async function openDatabase(
  settings: Settings,
  { create = false }: { create?: boolean } = {},
): Promise<{ readonly url: string } & AsyncDisposable> {
  if (settings.mode === "deployed") {
    const url = requireDatabaseUrl(settings, "set it, or unset SQS_QUEUE_URL for the sandbox");
    return { url, [Symbol.asyncDispose]: () => Promise.resolve() };
  }
  return await inSandbox(settings.dataDir, { existing: !create }, async (sandbox) => {
    const database = await sandbox.startDatabase();
    return { url: database.url, close: () => {} };
  });
}

/** The archive's database and S3; `prepareBucket` creates a bucket in the sandbox's emulator. */
export interface ArchiveServices extends AsyncDisposable {
  readonly databaseUrl: string;
  readonly s3: S3Archive;
  prepareBucket(name: string): void;
}

/**
 * Opens the archive's services: a deployment's database and S3 (`S3_ENDPOINT` or AWS), or the
 * sandbox's database and its emulator, which serves S3 as well as SQS.
 */
export async function openArchiveServices(settings: Settings): Promise<ArchiveServices> {
  if (settings.mode === "deployed") {
    const databaseUrl = requireDatabaseUrl(settings, "the archive moves rows of its user_logins");
    const s3 = new S3Archive(settings.s3);
    return {
      databaseUrl,
      s3,
      prepareBucket: () => {},
      [Symbol.asyncDispose]: () => Promise.resolve(s3.close()),
    };
  }
  const { endpoint, region } = settings.s3;
  return await inSandbox(settings.dataDir, { existing: true }, async (sandbox) => {
    const database = await sandbox.startDatabase();
    if (endpoint !== undefined) {
      const s3 = new S3Archive({ endpoint, region });
      return { databaseUrl: database.url, s3, prepareBucket: () => {}, close: () => s3.close() };
    }
    const emulator = await sandbox.startQueue();
    const { EMULATOR_CREDENTIALS } = await import("../sandbox/embedded_sqs.ts");
    const s3 = new S3Archive({
      endpoint: emulator.endpoint,
      region,
      credentials: EMULATOR_CREDENTIALS,
    });
    return {
      databaseUrl: database.url,
      s3,
      prepareBucket: (name: string) => emulator.createBucket(name),
      close: () => s3.close(),
    };
  });
}

/**
 * Makes sure `db`'s schema is current for a command other than `run` and `migrate`: the sandbox
 * migrates itself, a deployment only checks and says what to run.
 */
export async function prepareSchema(db: Database, settings: Settings): Promise<void> {
  if (settings.mode === "sandbox") await migrateIfAllowed(db);
  else await requireCurrentSchema(db);
}

/** A queue for a command that needs only the queue; the sandbox's is created if missing. */
export async function openQueueOnly(
  settings: Settings,
): Promise<{ readonly queue: SqsQueue } & AsyncDisposable> {
  if (settings.mode === "deployed") {
    const queue = openQueue(
      requireQueue(settings, "set it, or unset DATABASE_URL for the sandbox"),
    );
    return { queue, [Symbol.asyncDispose]: () => Promise.resolve(queue.close()) };
  }
  return await inSandbox(settings.dataDir, {}, async (sandbox, name) => {
    const queue = (await sandbox.startQueue()).openQueue(name);
    return { queue, close: () => queue.close() };
  });
}

/**
 * Opens the sandbox in `dataDir` and starts what `start` needs; disposing the result runs its
 * `close` and then closes the sandbox. A failed start closes the sandbox at once.
 */
async function inSandbox<T extends { close: () => void }>(
  dataDir: string,
  options: { existing?: boolean; log?: (line: string) => void },
  start: (sandbox: Sandbox, queueName: string) => Promise<T>,
): Promise<Omit<T, "close"> & AsyncDisposable> {
  const { Sandbox, SANDBOX_QUEUE } = await import("../sandbox/sandbox.ts");
  const sandbox = await Sandbox.open(dataDir, options);
  try {
    const { close, ...started } = await start(sandbox, SANDBOX_QUEUE);
    return {
      ...started,
      async [Symbol.asyncDispose]() {
        close();
        await sandbox.close();
      },
    };
  } catch (error) {
    await sandbox.close();
    throw error;
  }
}

/** The one place a deployment's queue client is made; credentials come from the AWS chain. */
export function openQueue(settings: QueueSettings): SqsQueue {
  return new SqsQueue(settings.url, { region: settings.region, endpoint: settings.endpoint });
}

/** How a command loads its keyring. */
export interface LoadKeyringOptions {
  readonly kind: "full" | "ingest";
  readonly log?: ((line: string) => void) | undefined;
  /** KMS for keys the keyring keeps there. */
  readonly kms?: KmsSettings | undefined;
  /** Accept a full keyring that group or others may read (`--allow-readable-keyring`). */
  readonly allowReadable?: boolean | undefined;
  /** The setting the path came from, named in the error when the keyring is refused. */
  readonly setting?: string | undefined;
}

/**
 * Reads the keyring at `path` for a command that needs a `kind` keyring. A reveal needs the full
 * keyring; the ingest takes either, and says when it was given more than it needs. A keyring
 * that fails validation is a `ConfigError`, naming `setting` when the path came from one.
 */
export async function loadKeyring(
  path: string,
  { kind, log, kms, allowReadable, setting }: LoadKeyringOptions,
): Promise<Keyring> {
  let keyring: Keyring;
  try {
    keyring = await readKeyring(path, {
      kms,
      allowReadable,
      warn: (line) => (log ?? ((text) => console.error(`vaultline: ${text}`)))(line),
    });
  } catch (error) {
    if (error instanceof KeyringError) {
      const message = setting === undefined
        ? error.message
        : `Invalid ${setting}: ${error.message}`;
      throw new ConfigError(message, { cause: error });
    }
    throw error;
  }
  if (kind === "full" && keyring.kind !== "full") {
    keyring[Symbol.dispose]();
    throw new ConfigError(
      `Cannot use keyring "${path}": it is an ingest keyring, without the private key`,
    );
  }
  if (
    kind === "ingest" && keyring.kind === "full" && keyring.keks.some((k) => k.location === "file")
  ) {
    log?.("The keyring holds the KEK's private key; the ingest needs only the ingest keyring");
  }
  return keyring;
}

/**
 * Reads the full keyring file at `path` for a keys command, mode checked; a problem with the file
 * is a `KeyringError` naming it, an ingest keyring a `ConfigError` (both exit 2).
 */
export async function loadFullKeyringFile(
  path: string,
  { allowReadable }: { allowReadable: boolean },
): Promise<KeyringFile> {
  const file = await readKeyringFile(path, { allowReadable });
  if (file.kind !== "full") {
    throw new ConfigError(
      `Cannot use keyring "${path}": it is an ingest keyring, not the full one`,
    );
  }
  return file;
}
