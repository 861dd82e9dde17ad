import assert from "node:assert/strict";
import { Batcher } from "../lib/ingest/batcher.ts";
import type { QueueMessage } from "../lib/queue/sqs_queue.ts";
import { FakeClock } from "./fake_clock.ts";

function messages(from: number, count: number, bytes = 2): QueueMessage[] {
  return Array.from({ length: count }, (_, i) => ({
    messageId: `m-${from + i}`,
    receiptHandle: `r-${from + i}`,
    body: "x".repeat(bytes),
    sentAt: new Date(0),
  }));
}

const ids = (batch: readonly QueueMessage[] | undefined) => batch?.map((m) => m.messageId);

Deno.test("Batcher hands out a full batch at once, oldest messages first", async () => {
  const clock = new FakeClock();
  const batcher = new Batcher({ size: 3, waitMs: 500, clock });
  batcher.push(messages(0, 2));
  batcher.push(messages(2, 2));
  assert.deepEqual(ids(await batcher.next()), ["m-0", "m-1", "m-2"]);
  assert.equal(clock.sleeps.length, 0, "a full batch waits for nothing");
});

Deno.test("Batcher hands out a partial batch once its oldest message waited the wait", async () => {
  const clock = new FakeClock();
  const batcher = new Batcher({ size: 10, waitMs: 500, clock });
  batcher.push(messages(0, 2));
  let batch: QueueMessage[] | undefined;
  const next = batcher.next().then((b) => (batch = b));
  await clock.advance(499);
  assert.equal(batch, undefined, "handed out before the wait");
  batcher.push(messages(2, 1));
  await clock.advance(1);
  await next;
  assert.deepEqual(ids(batch), ["m-0", "m-1", "m-2"]);
});

Deno.test("Batcher after close hands out what is left, then undefined", async () => {
  const clock = new FakeClock();
  const batcher = new Batcher({ size: 2, waitMs: 60_000, clock });
  batcher.push(messages(0, 3));
  const waiting = new Batcher({ size: 2, waitMs: 60_000, clock });
  const ended = waiting.next();
  batcher.close();
  waiting.close();
  assert.deepEqual(ids(await batcher.next()), ["m-0", "m-1"]);
  assert.deepEqual(ids(await batcher.next()), ["m-2"]);
  assert.equal(await batcher.next(), undefined);
  assert.equal(await ended, undefined, "a waiting next() ends at close");
  assert.equal(clock.pending, 0, "no sleep is left behind");
});

Deno.test("Batcher cuts a batch at its byte bound, and hands out a message larger than it alone", async () => {
  const clock = new FakeClock();
  const batcher = new Batcher({ size: 100, maxBytes: 1000, waitMs: 60_000, clock });
  batcher.push(messages(0, 3, 400));
  assert.deepEqual(ids(await batcher.next()), ["m-0", "m-1"], "two of 400 bytes fit in 1000");
  batcher.push(messages(3, 1, 5000));
  assert.deepEqual(ids(await batcher.next()), ["m-2"]);
  assert.deepEqual(ids(await batcher.next()), ["m-3"], "a message over the bound goes alone");
  assert.equal(clock.sleeps.length, 0, "a batch full by bytes waits for nothing");
});

Deno.test("Batcher after flush hands out a partial batch at once, then waits again", async () => {
  const clock = new FakeClock();
  const start = clock.now();
  const batcher = new Batcher({ size: 10, waitMs: 500, clock });
  batcher.flush();
  batcher.push(messages(0, 2));
  let batch: QueueMessage[] | undefined;
  const next = batcher.next().then((b) => (batch = b));
  await clock.advance(100);
  assert.equal(batch, undefined, "a flush of nothing made the next batch go early");
  batcher.flush();
  await next;
  assert.deepEqual(ids(batch), ["m-0", "m-1"]);
  assert.equal(clock.now() - start, 100, "the flushed batch waited out the wait");
  batcher.push(messages(2, 1));
  let after: QueueMessage[] | undefined;
  const following = batcher.next().then((b) => (after = b));
  await clock.advance(499);
  assert.equal(after, undefined, "the flush outlived the batch it handed out");
  await clock.advance(1);
  await following;
  assert.deepEqual(ids(after), ["m-2"]);
});
