import assert from "node:assert/strict";
import type { IngestEvent } from "../lib/ingest/events.ts";
import { heartbeat } from "../lib/ingest/heartbeat.ts";
import { InFlight } from "../lib/ingest/in_flight.ts";
import { EmbeddedSqs } from "../lib/sandbox/embedded_sqs.ts";
import { FakeClock } from "./fake_clock.ts";
import { delay, waitFor } from "./wait.ts";

Deno.test("heartbeat() extends held messages before they turn visible, and only those due", async () => {
  await using sqs = await EmbeddedSqs.start();
  const queue = sqs.openQueue("q");
  const beating = new AbortController();
  try {
    await queue.send(["a", "b", "c"]);
    // SQS hides them for 2 s; the heartbeat's clock is told one is due now, the others later.
    const received = await queue.receive({ max: 10, waitSeconds: 1, visibilitySeconds: 2 });
    assert.equal(received.length, 3);
    const clock = new FakeClock();
    const inFlight = new InFlight({ maxMessages: 10 });
    inFlight.add(received.slice(0, 1), clock.now() + 1000);
    inFlight.add(received.slice(1), clock.now() + 600_000);
    const events: IngestEvent[] = [];
    const beat = heartbeat({ queue, inFlight, clock, emit: (e) => events.push(e) }, {
      visibilitySeconds: 30,
      signal: beating.signal,
    });
    await clock.advance(5000);
    await waitFor("an extension", () => events.length > 0);
    assert.deepEqual(events, [{ type: "extended", count: 1 }]);
    assert.equal(inFlight.dueBefore(clock.now() + 20_000).length, 0, "the extension was recorded");
    // Past the 2 s SQS gave them: only the two not extended are visible again.
    await delay(2500);
    const again = await queue.receive({ max: 10, waitSeconds: 1, visibilitySeconds: 30 });
    assert.deepEqual(
      again.map((m) => m.messageId).sort(),
      received.slice(1).map((m) => m.messageId).sort(),
    );
    beating.abort();
    await beat;
  } finally {
    beating.abort();
    queue.close();
  }
});
