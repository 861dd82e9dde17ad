import assert from "node:assert/strict";
import { Deleter } from "../lib/ingest/deleter.ts";
import type { IngestEvent } from "../lib/ingest/events.ts";
import { InFlight } from "../lib/ingest/in_flight.ts";
import { SqsQueue } from "../lib/queue/sqs_queue.ts";
import { EmbeddedSqs } from "../lib/sandbox/embedded_sqs.ts";
import { FakeClock } from "./fake_clock.ts";
import { refuseDeletes, SqsProxy } from "./sqs_proxy.ts";
import { waitFor, within } from "./wait.ts";

Deno.test("Deleter deletes a batch, retries what SQS refuses, and gives it up after five attempts", async () => {
  await using sqs = await EmbeddedSqs.start();
  const direct = sqs.openQueue("q");
  const refused = new Set<string>();
  await using proxy = SqsProxy.start(sqs.endpoint, refuseDeletes((handle) => refused.has(handle)));
  const queue = new SqsQueue(`${proxy.endpoint}${new URL(direct.url).pathname}`, {
    region: "us-east-1",
    endpoint: proxy.endpoint,
    credentials: { accessKeyId: "x", secretAccessKey: "x" },
  });
  try {
    await direct.send(["a", "b", "c", "d"]);
    const batch = await queue.receive({ max: 10, waitSeconds: 1, visibilitySeconds: 30 });
    assert.equal(batch.length, 4);
    for (const message of batch.slice(0, 2)) refused.add(message.receiptHandle);
    const clock = new FakeClock();
    const inFlight = new InFlight({ maxMessages: 10 });
    inFlight.add(batch, clock.now() + 30_000);
    const events: IngestEvent[] = [];
    const deleter = new Deleter({ queue, inFlight, clock, emit: (e) => events.push(e) });
    deleter.delete(batch);
    for (let attempt = 1; attempt < 5; attempt++) {
      await waitFor(
        `retry ${attempt} of the refused entries`,
        () => events.filter((e) => e.type === "retry").length === attempt,
      );
      const retry = events.findLast((e) => e.type === "retry");
      assert.ok(retry?.type === "retry" && retry.count === 2 && retry.stage === "delete");
      assert.equal(inFlight.size, 2, "refused messages stay held while retried");
      await clock.advance(retry.delayMs);
    }
    await within("the deleter to give up", deleter.settled());
    assert.deepEqual(
      events.filter((e) => e.type !== "retry"),
      [{ type: "deleted", count: 2 }, { type: "gaveUp", stage: "delete", count: 2 }],
    );
    assert.equal(inFlight.size, 0, "given-up messages are released too");
    const depth = await direct.depth();
    assert.equal(depth.visible + depth.inFlight, 2, "the two refused are still queued");
  } finally {
    queue.close();
    direct.close();
  }
});
