import assert from "node:assert/strict";
import type { IngestEvent } from "../lib/ingest/events.ts";
import { localQuota, sharedQuota, sharedQuotaCell } from "../lib/ingest/quota.ts";
import { ingestOnWorkers, type WorkerParts } from "../lib/ingest/workers.ts";
import { generateLogins } from "../lib/sandbox/generate_logins.ts";
import { KeyringError, readKeyring } from "../lib/vault/keyring.ts";
import { counts, type ProcessSetup, processSetup } from "./run_fixture.ts";
import { DATABASE_KIND } from "./test_database.ts";
import { ingestVault } from "./vault_fixture.ts";
import { within } from "./wait.ts";

Deno.test("localQuota() hands out its limit and takes back what a receive did not use", () => {
  const quota = localQuota(25);
  assert.deepEqual([quota.take(10), quota.take(10), quota.take(10), quota.take(10)], [
    10,
    10,
    5,
    0,
  ]);
  quota.giveBack(3);
  assert.equal(quota.take(10), 3);
  assert.equal(localQuota(Infinity).take(10), 10);
});

Deno.test("sharedQuota() on one cell never hands out more than its limit, however it is shared", () => {
  const cell = sharedQuotaCell(95);
  const quotas = [sharedQuota(cell), sharedQuota(cell), sharedQuota(cell)];
  let taken = 0;
  for (let round = 0; round < 10; round++) {
    for (const quota of quotas) taken += quota.take(10);
  }
  assert.equal(taken, 95);
  quotas[1]?.giveBack(7);
  assert.equal(quotas[2]?.take(10), 7);
});

/** What `ingestOnWorkers` needs for `setup`'s queue, database and ingest keyring. */
async function workerSetup(setup: ProcessSetup, keyringPath = setup.keyrings.ingest) {
  const keyring = await readKeyring(setup.keyrings.ingest);
  const connection = {
    url: setup.database.url,
    poolSize: 2,
    limits: { statementTimeoutMs: 60_000, idleInTransactionMs: 60_000 },
  };
  const parts = {
    queue: setup.queue,
    connect: () => setup.database.connect({ max: 2 }),
    vault: ingestVault(keyring),
  };
  const workerParts: WorkerParts = {
    queue: { url: setup.queue.url, options: setup.queue.options },
    database: connection,
    keyring: { path: keyringPath, kms: undefined, allowReadable: false },
    dataKeys: { maxUses: 65_536, maxAgeMs: 3_600_000 },
  };
  return { keyring, parts, workerParts };
}

Deno.test(`ingestOnWorkers() on three threads takes exactly --max-messages, once each, and forwards every event (${DATABASE_KIND})`, async () => {
  await using setup = await processSetup();
  setup.send(generateLogins(3000, { malformedShare: 0.02 }));
  const { keyring, parts, workerParts } = await workerSetup(setup);
  using _ = keyring;
  const events: IngestEvent[] = [];
  const summary = await within(
    "three workers to take 1,234 messages",
    ingestOnWorkers(parts, workerParts, {
      workers: 3,
      concurrency: 6,
      batchSize: 100,
      batchWaitMs: 100,
      untilEmpty: false,
      maxMessages: 1234,
      onEvent: (event) => events.push(event),
    }),
  );
  assert.equal(summary.received, 1234);
  assert.equal(summary.inserted + summary.quarantined, 1234);
  assert.equal(summary.deleted, 1234);
  assert.equal(summary.left, 0);
  const written = await counts(setup.db);
  assert.equal(written.rows, summary.inserted);
  assert.equal(written.distinct, written.rows, "a message was written twice");
  assert.equal(written.quarantined, summary.quarantined);
  // The summary is the sum of the forwarded events: none was lost crossing a thread.
  const sum = (type: IngestEvent["type"], field: string) =>
    events.filter((e) => e.type === type).reduce(
      (total, e) => total + Number((e as unknown as Record<string, number>)[field]),
      0,
    );
  assert.equal(sum("received", "count"), 1234);
  assert.equal(sum("batchWritten", "inserted"), summary.inserted);
  assert.equal(sum("deleted", "count"), 1234);
  assert.deepEqual(events.filter((e) => e.type === "stopped").length, 1);
  const depth = await setup.queue.depth();
  assert.equal(depth.visible + depth.inFlight, 3000 - 1234);
});

Deno.test(`ingestOnWorkers() stops every thread and throws when one worker cannot start: nothing lost (${DATABASE_KIND})`, async () => {
  await using setup = await processSetup();
  setup.send(generateLogins(2000, { malformedShare: 0.02 }));
  const missing = `${setup.dir}/missing.keyring.json`;
  const { keyring, parts, workerParts } = await workerSetup(setup, missing);
  using _ = keyring;
  await assert.rejects(
    within(
      "the ingest to stop after a worker failed",
      ingestOnWorkers(parts, workerParts, {
        workers: 2,
        concurrency: 4,
        batchSize: 100,
        batchWaitMs: 100,
        untilEmpty: true,
        stopTimeoutSeconds: 5,
        visibilitySeconds: 30,
      }),
    ),
    (error) => error instanceof KeyringError && error.message.includes("missing.keyring.json"),
  );
  // What this thread took was written and deleted, or is still in the queue: none lost.
  const written = await counts(setup.db);
  assert.equal(written.distinct, written.rows, "a message was written twice");
  const depth = await setup.queue.depth();
  assert.equal(written.rows + written.quarantined + depth.visible + depth.inFlight, 2000);
});
