import assert from "node:assert/strict";
import type { IngestSummary } from "../lib/ingest.ts";
import { EmbeddedSqs } from "../lib/queue/embedded_sqs.ts";
import { generateLogins } from "../lib/record/generate_logins.ts";
import type { Database } from "../lib/store/database.ts";
import { migrate } from "../lib/store/migrate.ts";
import { createKeyrings, writeKeyring } from "../lib/vault/keyring.ts";
import { finished, runCli, runDeno, spawnCli } from "./cli.ts";
import { countWritten, DATABASE_KIND, TestDatabase } from "./test_database.ts";
import { sampleBodies } from "./vault_fixture.ts";

const QUEUE = "login-queue";

/** A test database, an emulator with the queue, keyring files, and the ingest's environment. */
async function processSetup() {
  const database = await TestDatabase.create();
  const sqs = await EmbeddedSqs.start();
  const queueUrl = sqs.createQueue(QUEUE);
  const queue = sqs.openQueue(QUEUE);
  const dir = await Deno.makeTempDir();
  const { full, ingest } = await createKeyrings();
  await writeKeyring(`${dir}/full.json`, full);
  await writeKeyring(`${dir}/ingest.json`, ingest);
  const db = database.connect();
  await migrate(db);
  const env = (sqsEndpoint = sqs.endpoint): Record<string, string> => ({
    DATABASE_URL: database.url,
    SQS_QUEUE_URL: queueUrl,
    SQS_ENDPOINT: sqsEndpoint,
    VAULT_KEYRING: `${dir}/ingest.json`,
    AWS_ACCESS_KEY_ID: "test",
    AWS_SECRET_ACCESS_KEY: "test",
  });
  return {
    sqs,
    queue,
    db,
    env,
    send: (bodies: readonly string[]) => bodies.forEach((body) => sqs.sendMessage(QUEUE, body)),
    async [Symbol.asyncDispose]() {
      queue.close();
      await sqs.close();
      await database[Symbol.asyncDispose]();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

async function counts(
  db: Database,
): Promise<{ rows: number; distinct: number; quarantined: number }> {
  const [row] = await db<{ rows: number; distinct: number; quarantined: number }[]>`
    SELECT (SELECT count(*)::int FROM user_logins) AS rows,
           (SELECT count(DISTINCT message_id)::int FROM user_logins) AS distinct,
           (SELECT count(*)::int FROM ingest_quarantine) AS quarantined`;
  return row!;
}

function summaryOf(stdout: string): IngestSummary {
  return JSON.parse(stdout.trim().split("\n").at(-1)!);
}

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

Deno.test(`run --json drains the sample queue and prints its summary (${DATABASE_KIND})`, async () => {
  await using setup = await processSetup();
  setup.send(await sampleBodies());
  const result = await runCli(["run", "--until-empty", "--json"], { env: setup.env() });
  assert.equal(result.code, 0, result.stderr);
  const summary = summaryOf(result.stdout);
  assert.deepEqual(
    { ...summary, seconds: 0 },
    { received: 100, inserted: 99, quarantined: 1, duplicates: 0, deleted: 100, seconds: 0 },
  );
  assert.equal(typeof summary.seconds, "number");
  assert.deepEqual(await counts(setup.db), { rows: 99, distinct: 99, quarantined: 1 });
  assert.deepEqual(await setup.queue.depth(), { visible: 0, inFlight: 0, delayed: 0 });
});

Deno.test(`seed sends generated messages, a share malformed, that the ingest takes in full (${DATABASE_KIND})`, async () => {
  await using setup = await processSetup();
  const seeded = await runDeno(["task", "-q", "seed", "--count", "400", "--malformed", "0.2"], {
    env: setup.env(),
  });
  assert.equal(seeded.code, 0, seeded.stderr);
  assert.equal((await setup.queue.depth()).visible, 400);
  const result = await runCli(["run", "--until-empty", "--json"], { env: setup.env() });
  assert.equal(result.code, 0, result.stderr);
  const { rows, quarantined } = await counts(setup.db);
  assert.equal(rows + quarantined, 400);
  assert.ok(quarantined > 40 && quarantined < 130, `${quarantined} quarantined of 400 at 20%`);
});

Deno.test(`a crash between commit and delete adds no second row on the next run (${DATABASE_KIND})`, async () => {
  await using setup = await processSetup();
  setup.send(await sampleBodies());
  // An SQS proxy that holds back the first DeleteMessageBatch: by then a batch has committed.
  let child: Deno.ChildProcess | undefined;
  let killed!: () => void;
  const crash = new Promise<void>((resolve) => (killed = resolve));
  const proxy = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    async (request) => {
      if (request.headers.get("x-amz-target")?.endsWith(".DeleteMessageBatch")) {
        child?.kill("SIGKILL");
        killed();
        return new Response("killed", { status: 500 });
      }
      const url = new URL(request.url);
      const headers = new Headers(request.headers);
      headers.delete("host");
      const response = await fetch(`${setup.sqs.endpoint}${url.pathname}${url.search}`, {
        method: request.method,
        headers,
        body: await request.arrayBuffer(),
      });
      return new Response(await response.arrayBuffer(), {
        status: response.status,
        headers: response.headers,
      });
    },
  );
  try {
    child = spawnCli(["run", "--until-empty", "--batch-size", "40", "--visibility-timeout", "3"], {
      env: setup.env(`http://127.0.0.1:${proxy.addr.port}`),
    });
    await crash;
    const crashed = await finished(child);
    assert.notEqual(crashed.code, 0);
  } finally {
    await proxy.shutdown();
  }
  const before = await counts(setup.db);
  const committed = before.rows + before.quarantined;
  assert.ok(committed > 0 && committed < 100, `${committed} committed before the crash`);
  const depth = await setup.queue.depth();
  assert.equal(depth.visible + depth.inFlight, 100, "the crash deleted nothing");

  const result = await runCli(["run", "--until-empty", "--json"], { env: setup.env() });
  assert.equal(result.code, 0, result.stderr);
  const summary = summaryOf(result.stdout);
  assert.equal(summary.duplicates, committed);
  assert.equal(summary.inserted + summary.quarantined, 100 - committed);
  assert.deepEqual(await counts(setup.db), { rows: 99, distinct: 99, quarantined: 1 });
});

Deno.test(`kill -9 at random moments over 20,000 messages, then a drain: rows + quarantine = sent (${DATABASE_KIND})`, async () => {
  await using setup = await processSetup();
  const sent = 20_000;
  setup.send(generateLogins(sent, { malformedShare: 0.02 }));
  const args = ["run", "--visibility-timeout", "3", "--batch-size", "250"];
  for (let round = 0; round < 4; round++) {
    const child = spawnCli(args, { env: setup.env() });
    // Kill at a random moment once this run is writing, so each kill lands mid-work.
    const before = await countWritten(setup.db);
    while (await countWritten(setup.db) === before) await delay(20);
    await delay(Math.random() * 700);
    child.kill("SIGKILL");
    assert.notEqual((await finished(child)).code, 0);
  }
  const killedAt = await counts(setup.db);
  assert.ok(
    killedAt.rows + killedAt.quarantined < sent,
    "the kills came after the queue was drained",
  );
  const result = await runCli(["run", "--until-empty", "--json", "--visibility-timeout", "3"], {
    env: setup.env(),
  });
  assert.equal(result.code, 0, result.stderr);
  const { rows, distinct, quarantined } = await counts(setup.db);
  assert.equal(rows + quarantined, sent);
  assert.equal(distinct, rows);
  assert.deepEqual(await setup.queue.depth(), { visible: 0, inFlight: 0, delayed: 0 });
});

Deno.test(`SIGTERM mid-run commits and deletes the in-flight batch and exits 0 (${DATABASE_KIND})`, async () => {
  await using setup = await processSetup();
  const sent = 6000;
  setup.send(generateLogins(sent, { malformedShare: 0.02 }));
  const child = spawnCli(["run", "--json", "--batch-size", "200"], { env: setup.env() });
  while (await countWritten(setup.db) === 0) await delay(50);
  child.kill("SIGTERM");
  const result = await finished(child);
  assert.equal(result.code, 0, result.stderr);
  const summary = summaryOf(result.stdout);
  assert.ok(summary.received < sent, "the signal came after the queue was drained");
  assert.equal(summary.deleted, summary.received);
  const { rows, quarantined } = await counts(setup.db);
  assert.equal(rows + quarantined, summary.received);
  const depth = await setup.queue.depth();
  assert.equal(depth.visible + depth.inFlight, sent - summary.received);
});
