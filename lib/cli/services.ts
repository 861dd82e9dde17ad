/**
 * The database and queue a command works on: embedded in the sandbox (loaded only then), real in
 * a deployment.
 */
import { ConfigError } from "../config_error.ts";
import { SqsQueue } from "../queue/sqs_queue.ts";
import type { Sandbox } from "../sandbox/sandbox.ts";
import {
  type QueueSettings,
  requireDatabaseUrl,
  requireQueue,
  type Settings,
} from "../settings.ts";
import { type Keyring, KeyringError, readKeyring } from "../vault/keyring.ts";

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

/** A database URL for a command that needs only the database (the sandbox's must exist). */
export async function openDatabase(
  settings: Settings,
): Promise<{ readonly url: string } & AsyncDisposable> {
  if (settings.mode === "deployed") {
    const url = requireDatabaseUrl(settings, "set it, or unset SQS_QUEUE_URL for the sandbox");
    return { url, [Symbol.asyncDispose]: () => Promise.resolve() };
  }
  return await inSandbox(settings.dataDir, { existing: true }, async (sandbox) => {
    const database = await sandbox.startDatabase();
    return { url: database.url, close: () => {} };
  });
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

/**
 * Reads the keyring at `path` for a command that needs a `kind` keyring. A reveal needs the full
 * keyring; the ingest takes either, and says when it was given more than it needs. A keyring
 * that fails validation is a `ConfigError`, naming `setting` when the path came from one.
 */
export async function loadKeyring(
  path: string,
  { kind, log, setting }: {
    kind: "full" | "ingest";
    log?: (line: string) => void;
    setting?: string | undefined;
  },
): Promise<Keyring> {
  let keyring: Keyring;
  try {
    keyring = await readKeyring(path);
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
    throw new ConfigError(
      `Cannot use keyring "${path}": it is an ingest keyring, without the private key`,
    );
  }
  if (kind === "ingest" && keyring.kind === "full") {
    log?.("The keyring holds the KEK's private key; the ingest needs only the ingest keyring");
  }
  return keyring;
}
