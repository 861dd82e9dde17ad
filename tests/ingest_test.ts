import assert from "node:assert/strict";
import { ingest, type IngestOptions } from "../lib/ingest.ts";
import { EmbeddedSqs } from "../lib/queue/embedded_sqs.ts";
import { SqsQueue } from "../lib/queue/sqs_queue.ts";
import { generateLogins } from "../lib/record/generate_logins.ts";
import { connectDatabase } from "../lib/store/database.ts";
import { migrate } from "../lib/store/migrate.ts";
import { TcpProxy } from "./tcp_proxy.ts";
import { countRows, countWritten, DATABASE_KIND, TestDatabase } from "./test_database.ts";
import { freshKeys, sampleBodies } from "./vault_fixture.ts";

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
  await setup.queue.send(await sampleBodies());
  const summary = await ingest({ queue: setup.queue, connect: setup.connect, vault: setup.vault }, {
    ...QUICK,
    concurrency: 4,
    batchSize: 500,
    untilEmpty: true,
  });
  assert.deepEqual(
    { ...summary, seconds: 0 },
    { received: 100, inserted: 99, quarantined: 1, duplicates: 0, deleted: 100, seconds: 0 },
  );
  assert.ok(summary.seconds > 0);
  assert.deepEqual(await setup.queue.depth(), { visible: 0, inFlight: 0, delayed: 0 });
  assert.equal(await countRows(setup.db, "user_logins"), 99);
  assert.equal(await countRows(setup.db, "ingest_quarantine"), 1);
  // A second drain finds nothing.
  const again = await ingest({ queue: setup.queue, connect: setup.connect, vault: setup.vault }, {
    ...QUICK,
    concurrency: 2,
    batchSize: 500,
    untilEmpty: true,
  });
  assert.equal(again.received, 0);
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
  assert.deepEqual(await setup.queue.depth(), { visible: 55, inFlight: 0, delayed: 0 });
});

Deno.test(`ingest() renews the visibility of messages waiting in a batch (${DATABASE_KIND})`, async () => {
  await using setup = await ingestSetup();
  await setup.queue.send(generateLogins(30, { malformedShare: 0 }));
  // Visibility 2 s, but the partial batch waits 5 s: without renewal SQS would redeliver them.
  const summary = await ingest({ queue: setup.queue, connect: setup.connect, vault: setup.vault }, {
    concurrency: 2,
    batchSize: 1000,
    batchWaitMs: 5000,
    visibilitySeconds: 2,
    untilEmpty: true,
  });
  assert.equal(summary.received, 30, "a message was redelivered: its visibility ran out");
  assert.equal(summary.inserted, 30);
  assert.equal(summary.duplicates, 0);
});

Deno.test(`ingest() on abort stops receiving, then writes and deletes what it holds (${DATABASE_KIND})`, async () => {
  await using setup = await ingestSetup();
  await setup.queue.send(generateLogins(3000, { malformedShare: 0.05 }));
  const stop = new AbortController();
  const summary = await ingest({ queue: setup.queue, connect: setup.connect, vault: setup.vault }, {
    ...QUICK,
    concurrency: 4,
    batchSize: 200,
    untilEmpty: false,
    signal: stop.signal,
    onProgress: (counts) => {
      if (counts.received >= 500) stop.abort();
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
  const lines: string[] = [];
  let cut: Promise<void> | undefined;
  try {
    const connect = () => connectDatabase(url.href, { max: 2 });
    const run = ingest({ queue: setup.queue, connect, vault: setup.vault }, {
      ...QUICK,
      concurrency: 4,
      batchSize: 100,
      visibilitySeconds: 10,
      untilEmpty: true,
      log: (line) => lines.push(line),
      onProgress: (counts) => {
        if (!cut && counts.inserted > 0) cut = proxy.cut();
      },
    });
    while (!cut) await new Promise((resolve) => setTimeout(resolve, 50));
    await cut;
    // While the database is away, every message is still queued or already committed.
    for (let i = 0; i < 6; i++) {
      await new Promise((resolve) => setTimeout(resolve, 500));
      const depth = await setup.queue.depth();
      const committed = await countWritten(setup.db);
      assert.ok(committed < sent, "the cut came too late to test anything");
      assert.ok(
        committed + depth.visible + depth.inFlight >= sent,
        `lost messages: ${committed} committed, ${depth.visible + depth.inFlight} queued`,
      );
    }
    assert.ok(lines.some((line) => line.startsWith("Cannot write a batch")), lines.join("\n"));
    const originals = bodies.flatMap((body) => [...body.matchAll(/"(?:ip|device_id)":"([^"]+)"/g)])
      .map((match) => match[1]!);
    assert.ok(originals.length > sent);
    const logged = lines.join("\n");
    assert.ok(originals.every((value) => !logged.includes(value)), "a log line holds an original");
    proxy.restore();
    const summary = await run;
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
  const lines: string[] = [];
  // A transaction holding the table stalls every batch write until it ends.
  let release = () => {};
  const released = new Promise<void>((resolve) => (release = resolve));
  let locked = () => {};
  const lockHeld = new Promise<void>((resolve) => (locked = resolve));
  const lock = setup.db.begin(async (tx) => {
    await tx`LOCK TABLE user_logins IN ACCESS EXCLUSIVE MODE`;
    locked();
    await released;
  });
  await lockHeld;
  const run = ingest({ queue: setup.queue, connect: setup.connect, vault: setup.vault }, {
    ...QUICK,
    concurrency: 2,
    batchSize: 100,
    writeTimeoutSeconds: 1,
    untilEmpty: true,
    log: (line) => {
      lines.push(line);
      if (line.includes("did not finish within")) release();
    },
  });
  await lock;
  const summary = await run;
  assert.ok(lines.some((line) => line.includes("did not finish within 1.0s")), lines.join("\n"));
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
  const lines: string[] = [];
  try {
    const run = ingest({ queue, connect: setup.connect, vault: setup.vault }, {
      ...QUICK,
      concurrency: 2,
      batchSize: 100,
      untilEmpty: true,
      log: (l) => lines.push(l),
    });
    while (!lines.some((line) => line.startsWith("Cannot receive from the queue"))) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    proxy.restore();
    const summary = await run;
    assert.equal(summary.inserted, 500);
    assert.equal(await countWritten(setup.db), 500);
  } finally {
    queue.close();
  }
});
