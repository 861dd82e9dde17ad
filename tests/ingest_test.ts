import assert from "node:assert/strict";
import { isPermanent } from "../lib/failure.ts";
import type { IngestEvent } from "../lib/ingest/events.ts";
import { ingest, type IngestOptions } from "../lib/ingest/ingest.ts";
import { SqsQueue } from "../lib/queue/sqs_queue.ts";
import { EmbeddedSqs } from "../lib/sandbox/embedded_sqs.ts";
import { generateLogins } from "../lib/sandbox/generate_logins.ts";
import { connectDatabase } from "../lib/store/database.ts";
import { migrate } from "../lib/store/migrate.ts";
import { TcpProxy } from "./tcp_proxy.ts";
import {
  countRows,
  countWritten,
  DATABASE_KIND,
  holdTableLock,
  TestDatabase,
} from "./test_database.ts";
import { freshKeys, sampleBodies } from "./vault_fixture.ts";
import { delay, waitFor, within } from "./wait.ts";

const QUICK: Partial<IngestOptions> = { batchWaitMs: 100 };

/** A migrated test database, an in-memory emulator with `login-queue`, and ingest keys. */
async function ingestSetup() {
  const database = await TestDatabase.create();
  const sqs = await EmbeddedSqs.start();
  const queue = sqs.openQueue("login-queue");
  const db = database.connect();
  await migrate(db);
  const { vault } = await freshKeys();
  return {
    database,
    sqs,
    queue,
    db,
    vault,
    /** Opens a pool on the test database for the ingest; the database closes it. */
    connect: () => database.connect({ max: 2 }),
    async [Symbol.asyncDispose]() {
      queue.close();
      await sqs.close();
      await database[Symbol.asyncDispose]();
    },
  };
}

Deno.test(`ingest() drains the sample queue: 99 rows, 1 quarantined, queue empty (${DATABASE_KIND})`, async () => {
  await using setup = await ingestSetup();
  await setup.queue.send(sampleBodies());
  const events: IngestEvent[] = [];
  const started = performance.now();
  const summary = await ingest({ queue: setup.queue, connect: setup.connect, vault: setup.vault }, {
    ...QUICK,
    concurrency: 4,
    batchSize: 500,
    untilEmpty: true,
    onEvent: (event) => events.push(event),
  });
  const elapsed = (performance.now() - started) / 1000;
  assert.deepEqual(
    { ...summary, seconds: 0 },
    {
      received: 100,
      inserted: 99,
      quarantined: 1,
      duplicates: 0,
      deleted: 100,
      left: 0,
      seconds: 0,
    },
  );
  assert.ok(
    summary.seconds > 0 && summary.seconds <= elapsed,
    `${summary.seconds}s of ${elapsed}s`,
  );
  // The events tell the same story as the summary, and end with it.
  assert.deepEqual(events.at(-1), { type: "stopped", summary });
  const quarantined = events.filter((e) => e.type === "quarantined");
  assert.equal(quarantined.length, 1);
  assert.match(
    quarantined[0]!.type === "quarantined" ? quarantined[0]!.reason : "",
    /user_id is missing/,
  );
  const written = events.flatMap((e) => e.type === "batchWritten" ? [e] : []);
  assert.equal(written.reduce((n, e) => n + e.size, 0), 100);
  assert.ok(written.every((e) => e.ms >= 0 && e.ms <= elapsed * 1000));
  const bytes = events.reduce((n, e) => n + (e.type === "received" ? e.bytes : 0), 0);
  assert.equal(bytes, sampleBodies().reduce((n, body) => n + body.length, 0));
  assert.deepEqual(await setup.queue.depth(), { visible: 0, inFlight: 0, delayed: 0 });
  assert.equal(await countRows(setup.db, "user_logins"), 99);
  assert.equal(await countRows(setup.db, "ingest_quarantine"), 1);
  // A second drain finds nothing, and writes nothing.
  const again = await ingest({ queue: setup.queue, connect: setup.connect, vault: setup.vault }, {
    ...QUICK,
    concurrency: 2,
    batchSize: 500,
    untilEmpty: true,
  });
  assert.deepEqual({ ...again, seconds: 0 }, {
    received: 0,
    inserted: 0,
    quarantined: 0,
    duplicates: 0,
    deleted: 0,
    left: 0,
    seconds: 0,
  });
  assert.equal(await countRows(setup.db, "user_logins"), 99);
});

Deno.test(`ingest() stops after --max-messages and leaves the rest queued (${DATABASE_KIND})`, async () => {
  await using setup = await ingestSetup();
  await setup.queue.send(generateLogins(100, { malformedShare: 0 }));
  const summary = await ingest({ queue: setup.queue, connect: setup.connect, vault: setup.vault }, {
    ...QUICK,
    concurrency: 3,
    batchSize: 7,
    untilEmpty: false,
    maxMessages: 45,
  });
  assert.equal(summary.received, 45);
  assert.equal(summary.inserted, 45);
  assert.equal(summary.deleted, 45);
  assert.equal(await countRows(setup.db, "user_logins"), 45);
  assert.deepEqual(await setup.queue.depth(), { visible: 55, inFlight: 0, delayed: 0 });
});

Deno.test(`ingest() renews the visibility of messages waiting for their write (${DATABASE_KIND})`, async () => {
  await using setup = await ingestSetup();
  await setup.queue.send(generateLogins(30, { malformedShare: 0 }));
  // Visibility 2 s, but the write waits 5 s for a lock: without renewal SQS would redeliver them.
  const { release, ended } = await holdTableLock(setup.db, "user_logins");
  const timer = setTimeout(release, 5000);
  const events: IngestEvent[] = [];
  try {
    const summary = await ingest(
      { queue: setup.queue, connect: setup.connect, vault: setup.vault },
      {
        ...QUICK,
        concurrency: 2,
        batchSize: 1000,
        visibilitySeconds: 2,
        untilEmpty: true,
        onEvent: (event) => events.push(event),
      },
    );
    assert.equal(summary.received, 30, "a message was redelivered: its visibility ran out");
    const extended = events.reduce((n, e) => n + (e.type === "extended" ? e.count : 0), 0);
    assert.ok(extended >= 30, `${extended} extensions for 30 messages waiting 5 s`);
    assert.equal(summary.inserted, 30);
    assert.equal(summary.duplicates, 0);
  } finally {
    clearTimeout(timer);
    release();
    await ended;
  }
});

Deno.test(`ingest() on abort stops receiving, then writes and deletes what it holds (${DATABASE_KIND})`, async () => {
  await using setup = await ingestSetup();
  await setup.queue.send(generateLogins(3000, { malformedShare: 0.05 }));
  const stop = new AbortController();
  let received = 0;
  const summary = await ingest({ queue: setup.queue, connect: setup.connect, vault: setup.vault }, {
    ...QUICK,
    concurrency: 4,
    batchSize: 200,
    untilEmpty: false,
    signal: stop.signal,
    onEvent: (event) => {
      if (event.type === "received") received += event.count;
      if (received >= 500) stop.abort();
    },
  });
  assert.ok(summary.received >= 500 && summary.received < 3000, `received ${summary.received}`);
  assert.equal(summary.deleted, summary.received);
  assert.equal(summary.inserted + summary.quarantined, summary.received);
  assert.equal(await countWritten(setup.db), summary.received);
  const depth = await setup.queue.depth();
  assert.equal(depth.visible + depth.inFlight, 3000 - summary.received);
});

Deno.test(`ingest() survives losing the database: nothing uncommitted is deleted, and it recovers (${DATABASE_KIND})`, async () => {
  await using setup = await ingestSetup();
  const port = Number(new URL(setup.database.url).port);
  await using proxy = TcpProxy.start(port);
  const url = new URL(setup.database.url);
  url.port = String(proxy.port);
  const sent = 4000;
  const bodies = generateLogins(sent, { malformedShare: 0.05 });
  await setup.queue.send(bodies);
  const events: IngestEvent[] = [];
  let cut: Promise<void> | undefined;
  try {
    const connect = () => connectDatabase(url.href, { max: 2 });
    const run = ingest({ queue: setup.queue, connect, vault: setup.vault }, {
      ...QUICK,
      concurrency: 4,
      batchSize: 100,
      visibilitySeconds: 10,
      untilEmpty: true,
      onEvent: (event) => {
        events.push(event);
        if (!cut && event.type === "batchWritten") cut = proxy.cut();
      },
    });
    await waitFor("the first batch to commit, and the cut", () => cut !== undefined);
    await cut;
    // While the database is away, every message is still queued or already committed.
    for (let i = 0; i < 6; i++) {
      await delay(500);
      const depth = await setup.queue.depth();
      const committed = await countWritten(setup.db);
      assert.ok(committed < sent, "the cut came too late to test anything");
      assert.ok(
        committed + depth.visible + depth.inFlight >= sent,
        `lost messages: ${committed} committed, ${depth.visible + depth.inFlight} queued`,
      );
    }
    assert.ok(events.some((e) => e.type === "retry" && e.stage === "write"), "no write retry");
    const originals = bodies.flatMap((body) => [...body.matchAll(/"(?:ip|device_id)":"([^"]+)"/g)])
      .map((match) => match[1]!);
    assert.ok(originals.length > sent);
    const reported = JSON.stringify(events);
    assert.ok(originals.every((value) => !reported.includes(value)), "an event holds an original");
    proxy.restore();
    const summary = await within("the ingest to finish once the database is back", run);
    assert.equal(await countWritten(setup.db), sent);
    assert.equal(summary.inserted + summary.quarantined, sent);
    assert.deepEqual(await setup.queue.depth(), { visible: 0, inFlight: 0, delayed: 0 });
  } finally {
    proxy.restore();
  }
});

Deno.test(`ingest() abandons a write that does not finish in time and retries it on a fresh pool (${DATABASE_KIND})`, async () => {
  await using setup = await ingestSetup();
  const sent = 300;
  await setup.queue.send(generateLogins(sent, { malformedShare: 0 }));
  const events: IngestEvent[] = [];
  // A transaction holding the table stalls every batch write until it ends.
  const { release, ended: lock } = await holdTableLock(setup.db, "user_logins");
  const run = ingest({ queue: setup.queue, connect: setup.connect, vault: setup.vault }, {
    ...QUICK,
    concurrency: 2,
    batchSize: 100,
    writeTimeoutSeconds: 1,
    untilEmpty: true,
    onEvent: (event) => {
      events.push(event);
      if (event.type === "retry" && event.cause.includes("did not finish within")) release();
    },
  });
  await within("the overdue write to be abandoned", lock);
  const summary = await within("the ingest to finish", run);
  assert.ok(
    events.some((e) => e.type === "retry" && e.cause === "The write did not finish within 1.0s"),
    JSON.stringify(events.filter((e) => e.type === "retry")),
  );
  assert.equal(summary.inserted, sent);
  assert.equal(summary.duplicates, 0);
  assert.equal(await countRows(setup.db, "user_logins"), sent);
  assert.deepEqual(await setup.queue.depth(), { visible: 0, inFlight: 0, delayed: 0 });
});

Deno.test(`ingest() retries when SQS is unreachable and drains once it returns (${DATABASE_KIND})`, async () => {
  await using setup = await ingestSetup();
  await setup.queue.send(generateLogins(500, { malformedShare: 0 }));
  await using proxy = TcpProxy.start(Number(new URL(setup.sqs.endpoint).port));
  await proxy.cut();
  const queue = new SqsQueue(
    `http://127.0.0.1:${proxy.port}${new URL(setup.queue.url).pathname}`,
    {
      region: "us-east-1",
      endpoint: `http://127.0.0.1:${proxy.port}`,
      credentials: { accessKeyId: "x", secretAccessKey: "x" },
    },
  );
  const events: IngestEvent[] = [];
  try {
    const run = ingest({ queue, connect: setup.connect, vault: setup.vault }, {
      ...QUICK,
      concurrency: 2,
      batchSize: 100,
      untilEmpty: true,
      onEvent: (event) => events.push(event),
    });
    await waitFor(
      "a failed receive while SQS is away",
      () => events.some((e) => e.type === "retry" && e.stage === "receive"),
    );
    assert.equal(await countWritten(setup.db), 0);
    proxy.restore();
    const summary = await within("the ingest to drain once SQS is back", run);
    assert.equal(summary.inserted, 500);
    assert.equal(await countWritten(setup.db), 500);
  } finally {
    queue.close();
  }
});

Deno.test(`ingest() after its signal writes only until the stop timeout while the database is away, then returns what it holds to the queue (${DATABASE_KIND})`, async () => {
  await using setup = await ingestSetup();
  await using proxy = TcpProxy.start(Number(new URL(setup.database.url).port));
  const url = new URL(setup.database.url);
  url.port = String(proxy.port);
  const sent = 1000;
  await setup.queue.send(generateLogins(sent, { malformedShare: 0 }));
  const events: IngestEvent[] = [];
  const stop = new AbortController();
  let cut: Promise<void> | undefined;
  try {
    const run = ingest({
      queue: setup.queue,
      connect: () => connectDatabase(url.href, { max: 2 }),
      vault: setup.vault,
    }, {
      ...QUICK,
      concurrency: 2,
      batchSize: 100,
      visibilitySeconds: 30,
      stopTimeoutSeconds: 1,
      untilEmpty: false,
      signal: stop.signal,
      onEvent: (event) => {
        events.push(event);
        if (!cut && event.type === "batchWritten") cut = proxy.cut();
      },
    });
    await waitFor(
      "a write retry while the database is away",
      () => events.some((e) => e.type === "retry" && e.stage === "write"),
    );
    const stopped = performance.now();
    stop.abort();
    const summary = await within("the ingest to stop", run, 10_000);
    const seconds = (performance.now() - stopped) / 1000;
    assert.ok(seconds < 1 + 3, `stopped ${seconds.toFixed(1)}s after the signal`);
    assert.ok(summary.left > 0, "nothing was left: the cut came too late");
    const left = events.find((e) => e.type === "left");
    assert.ok(left?.type === "left" && left.count === summary.left);
    assert.ok(left.written < left.count, "every message left was written");
    // What was not deleted is visible again at once, not after its 30 s visibility timeout; only
    // what the receives cut short by the stop took stays hidden until then. The emulator keeps a
    // cut long poll waiting on its side, so each of the 2 receivers can lose up to 10 messages
    // twice: at the stop, and from those made visible again just after it.
    const depth = await setup.queue.depth();
    assert.equal(depth.visible + depth.inFlight, sent - summary.deleted);
    assert.ok(depth.inFlight <= 2 * 2 * 10, `${depth.inFlight} messages still hidden`);
    assert.ok(depth.visible >= summary.left, `${depth.visible} visible of ${summary.left} left`);
    const committed = await countWritten(setup.db);
    assert.ok(committed >= summary.deleted, "a message was deleted before it was committed");
  } finally {
    proxy.restore();
  }
});

Deno.test(`ingest() ends at once on a queue that does not exist, naming SQS_QUEUE_URL (${DATABASE_KIND})`, async () => {
  await using setup = await ingestSetup();
  const missing = new SqsQueue(setup.queue.url.replace(/login-queue$/, "no-such-queue"), {
    region: "us-east-1",
    endpoint: setup.sqs.endpoint,
    credentials: { accessKeyId: "x", secretAccessKey: "x" },
  });
  const events: IngestEvent[] = [];
  try {
    await assert.rejects(
      within(
        "the ingest to give up",
        ingest({ queue: missing, connect: setup.connect, vault: setup.vault }, {
          ...QUICK,
          concurrency: 2,
          batchSize: 10,
          untilEmpty: false,
          onEvent: (event) => events.push(event),
        }),
        10_000,
      ),
      (error: Error) => {
        assert.ok(isPermanent(error), String(error));
        assert.match(
          error.message,
          /^Cannot use SQS_QUEUE_URL "[^"]*no-such-queue": the queue does not exist \(/,
        );
        return true;
      },
    );
    assert.deepEqual(events.filter((e) => e.type === "retry"), [], "a permanent error was retried");
  } finally {
    missing.close();
  }
});
