/**
 * One thread of `ingestOnWorkers`: it opens its own queue client, pools and keys from the plain
 * data it is sent, runs `ingest()`, and posts back its events and its summary or failure.
 */
import { SqsQueue } from "../queue/sqs_queue.ts";
import { connectDatabase } from "../store/database.ts";
import { readKeyring } from "../vault/keyring.ts";
import { dataKeySource } from "./data_keys.ts";
import { ingest } from "./ingest.ts";
import { sharedQuota } from "./quota.ts";
import { type FromWorker, type ToWorker, toWorkerFailure } from "./workers.ts";

/** The worker's side of its message port. */
const port = self as unknown as {
  onmessage: ((event: MessageEvent<ToWorker>) => void) | null;
  postMessage(message: FromWorker): void;
};

const stop = new AbortController();

port.onmessage = ({ data }) => {
  if (data.type === "stop") stop.abort();
  else {run(data).catch((error) =>
      port.postMessage({ type: "failed", failure: toWorkerFailure(error) })
    );}
};

async function run({ parts, options, quota }: ToWorker & { type: "start" }): Promise<void> {
  const { database, dataKeys } = parts;
  // The main thread has read this keyring and said what there was to say about it.
  using keyring = await readKeyring(parts.keyring.path, {
    kms: parts.keyring.kms,
    allowReadable: parts.keyring.allowReadable,
    warn: () => {},
  });
  const queue = new SqsQueue(parts.queue.url, parts.queue.options);
  try {
    const summary = await ingest({
      queue,
      connect: () =>
        connectDatabase(database.url, { max: database.poolSize, limits: database.limits }),
      vault: { tokenKey: keyring.tokenKey, dataKey: dataKeySource(keyring.keks[0], dataKeys) },
    }, {
      ...options,
      quota: sharedQuota(quota),
      signal: stop.signal,
      onEvent: (event) => {
        if (event.type !== "stopped") port.postMessage({ type: "event", event });
      },
    });
    port.postMessage({ type: "done", summary });
  } finally {
    queue.close();
  }
}
