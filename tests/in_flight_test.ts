import assert from "node:assert/strict";
import { InFlight } from "../lib/ingest/in_flight.ts";
import type { QueueMessage } from "../lib/queue/sqs_queue.ts";

function message(i: number, bytes = 10): QueueMessage {
  return {
    messageId: `m-${i}`,
    receiptHandle: `r-${i}`,
    body: "x".repeat(bytes),
    sentAt: new Date(0),
  };
}

Deno.test("InFlight is full at its message bound and has room again after a release", async () => {
  const inFlight = new InFlight({ maxMessages: 3 });
  const held = [0, 1, 2].map((i) => message(i));
  inFlight.add(held, 1000);
  inFlight.add([held[0]!], 1000);
  assert.equal(inFlight.size, 3, "a message held twice counts once");
  assert.ok(inFlight.full);
  const stop = new AbortController();
  let room = false;
  const waiting = inFlight.waitForRoom(stop.signal).then(() => (room = true));
  await Promise.resolve();
  assert.equal(room, false);
  inFlight.release([held[1]!]);
  await waiting;
  assert.equal(inFlight.size, 2);
  assert.ok(!inFlight.full);
});

Deno.test("InFlight is full at its byte bound, and waiting for room ends at abort", async () => {
  const inFlight = new InFlight({ maxMessages: 100, maxBytes: 1000 });
  inFlight.add([message(0, 600), message(1, 400)], 1000);
  assert.equal(inFlight.bytes, 1000);
  assert.ok(inFlight.full);
  const stop = new AbortController();
  const waiting = inFlight.waitForRoom(stop.signal);
  stop.abort();
  await waiting;
  assert.ok(inFlight.full, "abort ends the wait, not the bound");
  inFlight.release([message(0, 600)]);
  assert.equal(inFlight.bytes, 400);
});

Deno.test("InFlight.dueBefore() lists the messages that turn visible before a time", () => {
  const inFlight = new InFlight({ maxMessages: 10 });
  inFlight.add([message(0)], 1000);
  inFlight.add([message(1)], 5000);
  assert.deepEqual(inFlight.dueBefore(3000).map((h) => h.message.messageId), ["m-0"]);
  assert.deepEqual(inFlight.dueBefore(6000).length, 2);
});
