/**
 * The ceiling contender: the ingest's SQS client receiving ten at a time on `--concurrency`
 * receivers and deleting each receive's messages in one batch call, with no processing. Each
 * receiver's delete overlaps its next receive, as the ingest's deleter does. Stops once
 * `--count` messages are deleted; prints `{"deleted", "seconds"}`.
 *
 * Usage: raw_drain.ts --queue-url URL --endpoint URL --count N --concurrency N
 */
import { parseArgs } from "node:util";
import { type QueueMessage, SQS_BATCH_MAX, SqsQueue } from "../../lib/queue/sqs_queue.ts";
import { EMULATOR_CREDENTIALS } from "../../lib/sandbox/embedded_sqs.ts";
import { printLine } from "./json_lines.ts";

/** The ingest's long poll while it drains to empty (`receiver.ts`). */
const WAIT_SECONDS = 1;
const VISIBILITY_SECONDS = 60;

const { values } = parseArgs({
  options: {
    "queue-url": { type: "string" },
    endpoint: { type: "string" },
    count: { type: "string" },
    concurrency: { type: "string" },
  },
});
const count = Number(values.count);
const concurrency = Number(values.concurrency);
const queue = new SqsQueue(values["queue-url"] ?? "", {
  region: "us-east-1",
  endpoint: values.endpoint,
  credentials: EMULATOR_CREDENTIALS,
});

const started = performance.now();
const enough = new AbortController();
let received = 0;
let deleted = 0;

async function deleteAll(messages: readonly QueueMessage[]): Promise<void> {
  const refused = await queue.delete(messages);
  if (refused.length > 0) {
    throw new Error(`Cannot delete messages: SQS refused ${refused.length} of ${messages.length}`);
  }
  deleted += messages.length;
}

async function receiver(): Promise<void> {
  let deleting = Promise.resolve();
  try {
    while (!enough.signal.aborted) {
      let messages: QueueMessage[];
      try {
        messages = await queue.receive({
          max: SQS_BATCH_MAX,
          waitSeconds: WAIT_SECONDS,
          visibilitySeconds: VISIBILITY_SECONDS,
          signal: enough.signal,
        });
      } catch (error) {
        if (enough.signal.aborted) break;
        throw error;
      }
      received += messages.length;
      // The other receivers' long polls need not run out: nothing is left for them.
      if (received >= count) enough.abort();
      await deleting;
      deleting = deleteAll(messages);
    }
  } finally {
    await deleting;
  }
}

try {
  await Promise.all(Array.from({ length: concurrency }, receiver));
} finally {
  queue.close();
}
printLine({ deleted, seconds: (performance.now() - started) / 1000 });
