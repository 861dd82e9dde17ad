import assert from "node:assert/strict";
import type { IngestEvent } from "../lib/ingest/events.ts";
import { sealBatch } from "../lib/ingest/seal_batch.ts";
import { BatchWriter } from "../lib/ingest/writer.ts";
import { connectDatabase, type Database } from "../lib/store/database.ts";
import { migrate } from "../lib/store/migrate.ts";
import { FakeClock } from "./fake_clock.ts";
import { countRows, DATABASE_KIND, holdTableLock, TestDatabase } from "./test_database.ts";
import { freshKeys, sampleParsed } from "./vault_fixture.ts";
import { waitFor, within } from "./wait.ts";

/** A loopback port nothing listens on: connections to it are refused at once. */
function closedPort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

async function writerSetup() {
  const database = await TestDatabase.create();
  const db = database.connect();
  await migrate(db);
  const { vault } = await freshKeys();
  return {
    database,
    db,
    batch: await sealBatch(sampleParsed(), vault),
    [Symbol.asyncDispose]: () => database[Symbol.asyncDispose](),
  };
}

Deno.test(`BatchWriter retries a refused connection after a backoff on its clock, on a fresh pool (${DATABASE_KIND})`, async () => {
  await using setup = await writerSetup();
  const clock = new FakeClock();
  const events: IngestEvent[] = [];
  const refused = new URL(setup.database.url);
  refused.port = String(closedPort());
  const pools: string[] = [];
  const connect = (): Database => {
    const url = pools.length === 0 ? refused.href : setup.database.url;
    pools.push(url);
    return connectDatabase(url, { max: 1 });
  };
  await using writer = new BatchWriter({ connect, clock, emit: (e) => events.push(e) }, {
    timeoutMs: 60_000,
  });
  const writing = writer.write(setup.batch);
  await waitFor("the first attempt to fail", () => events.some((e) => e.type === "retry"));
  const retry = events.find((e) => e.type === "retry");
  assert.ok(retry?.type === "retry");
  assert.equal(retry.stage, "write");
  assert.equal(retry.attempt, 1);
  assert.equal(retry.count, 100);
  assert.ok(retry.delayMs >= 250 && retry.delayMs <= 500, `first backoff ${retry.delayMs} ms`);
  assert.equal(await countRows(setup.db, "user_logins"), 0);
  assert.equal(pools.length, 2, "the failed pool was replaced");
  await clock.advance(retry.delayMs);
  const result = await within("the retried write", writing);
  assert.equal(result.inserted, 99);
  assert.equal(await countRows(setup.db, "user_logins"), 99);
  const written = events.find((e) => e.type === "batchWritten");
  assert.deepEqual(
    written && { ...written, ms: 0 },
    { type: "batchWritten", size: 100, ms: 0, inserted: 99, quarantined: 1, duplicates: 0 },
  );
});

Deno.test(`BatchWriter abandons a write that passes its deadline on the clock, and retries it (${DATABASE_KIND})`, async () => {
  await using setup = await writerSetup();
  const clock = new FakeClock();
  const events: IngestEvent[] = [];
  const { release, ended: lock } = await holdTableLock(setup.db, "user_logins");
  await using writer = new BatchWriter({
    connect: () => setup.database.connect({ max: 1 }),
    clock,
    emit: (e) => events.push(e),
  }, { timeoutMs: 60_000 });
  const writing = writer.write(setup.batch);
  await waitFor("the write to start its deadline", () => clock.pending === 1);
  await clock.advance(60_000);
  await waitFor("the overdue write to be abandoned", () => events.some((e) => e.type === "retry"));
  const retry = events.find((e) => e.type === "retry");
  assert.equal(retry?.type === "retry" && retry.cause, "The write did not finish within 60.0s");
  release();
  await lock;
  await clock.advance(retry?.type === "retry" ? retry.delayMs : 0);
  const result = await within("the retried write", writing);
  assert.equal(result.inserted, 99);
  assert.equal(await countRows(setup.db, "user_logins"), 99);
});
