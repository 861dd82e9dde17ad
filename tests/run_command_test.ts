import assert from "node:assert/strict";
import { isRejection, parseMessage } from "../lib/record/parse_message.ts";
import { generateLogins, seededRandom } from "../lib/sandbox/generate_logins.ts";
import { finished, runCli, runDeno, spawnCli } from "./cli.ts";
import { counts, processSetup, summaryOf } from "./run_fixture.ts";
import { SqsProxy } from "./sqs_proxy.ts";
import { countWritten, DATABASE_KIND } from "./test_database.ts";
import { sampleBodies } from "./vault_fixture.ts";
import { delay, testRandom, waitFor, within } from "./wait.ts";

Deno.test(`run --json drains the sample queue and prints its summary (${DATABASE_KIND})`, async () => {
  await using setup = await processSetup();
  setup.send(sampleBodies());
  const started = performance.now();
  const result = await runCli(["run", "--until-empty", "--json"], { env: setup.env() });
  const elapsed = (performance.now() - started) / 1000;
  assert.equal(result.code, 0, result.stderr);
  const summary = summaryOf(result.stdout);
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
  assert.ok(summary.seconds > 0 && summary.seconds < elapsed, `${summary.seconds}s of ${elapsed}s`);
  assert.deepEqual(await counts(setup.db), { rows: 99, distinct: 99, quarantined: 1 });
  assert.deepEqual(await setup.queue.depth(), { visible: 0, inFlight: 0, delayed: 0 });
});

Deno.test(`seed --seed sends a reproducible queue that the ingest takes in full (${DATABASE_KIND})`, async () => {
  await using setup = await processSetup();
  const seeded = await runDeno(
    ["task", "-q", "seed", "--count", "400", "--malformed", "0.2", "--seed", "7"],
    { env: setup.env() },
  );
  assert.equal(seeded.code, 0, seeded.stderr);
  assert.equal((await setup.queue.depth()).visible, 400);
  const expected = generateLogins(400, { malformedShare: 0.2, random: seededRandom(7) })
    .map((body, i) => parseMessage({ messageId: `${i}`, body, sentAt: new Date() }));
  const rejected = expected.filter(isRejection).length;
  assert.ok(rejected > 0 && rejected < 400);
  const result = await runCli(["run", "--until-empty", "--json"], { env: setup.env() });
  assert.equal(result.code, 0, result.stderr);
  assert.deepEqual(await counts(setup.db), {
    rows: 400 - rejected,
    distinct: 400 - rejected,
    quarantined: rejected,
  });
  const users = await setup.db<{ userId: string }[]>`SELECT user_id FROM user_logins`;
  const sent = new Set(expected.flatMap((p) => isRejection(p) ? [] : [p.login.userId]));
  assert.ok(users.every((row) => sent.has(row.userId)), "a row's user_id was not sent");
});

Deno.test(`a crash between commit and delete adds no second row on the next run (${DATABASE_KIND})`, async () => {
  await using setup = await processSetup();
  setup.send(sampleBodies());
  // An SQS proxy that kills the ingest at its first DeleteMessageBatch: by then a batch committed.
  let child: Deno.ChildProcess | undefined;
  let killed!: () => void;
  const crash = new Promise<void>((resolve) => (killed = resolve));
  {
    await using proxy = SqsProxy.start(setup.sqs.endpoint, (action) => {
      if (action !== "DeleteMessageBatch") return undefined;
      child?.kill("SIGKILL");
      killed();
      return new Response("killed", { status: 500 });
    });
    child = spawnCli(["run", "--until-empty", "--batch-size", "40", "--visibility-timeout", "3"], {
      env: setup.env(proxy.endpoint),
    });
    const exited = finished(child);
    await within("the first DeleteMessageBatch", Promise.race([crash, exited]));
    const crashed = await within("the killed process to exit", exited);
    assert.equal(crashed.code, 137, crashed.stderr);
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

Deno.test(`kill -9 at random moments over 20,000 messages with two workers, then a drain: rows + quarantine = sent (${DATABASE_KIND})`, async () => {
  await using setup = await processSetup();
  const { random, seedNote } = testRandom();
  const sent = 20_000;
  setup.send(generateLogins(sent, { malformedShare: 0.02, random }));
  const args = ["run", "--workers", "2", "--visibility-timeout", "3", "--batch-size", "250"];
  for (let round = 0; round < 4; round++) {
    const child = spawnCli(args, { env: setup.env() });
    const exited = finished(child);
    let exitedEarly = false;
    exited.then(() => (exitedEarly = true));
    // Kill at a random moment once this run is writing, so each kill lands mid-work.
    const before = await countWritten(setup.db);
    await waitFor(
      `round ${round} to write ${seedNote}`,
      async () => exitedEarly || await countWritten(setup.db) > before,
    );
    assert.ok(!exitedEarly, `the ingest exited before it was killed ${seedNote}`);
    await delay(random() * 700);
    child.kill("SIGKILL");
    assert.equal((await within("the killed ingest to exit", exited)).code, 137);
  }
  const killedAt = await counts(setup.db);
  assert.ok(
    killedAt.rows + killedAt.quarantined < sent,
    `the kills came after the queue was drained ${seedNote}`,
  );
  const result = await runCli(["run", "--until-empty", "--json", "--visibility-timeout", "3"], {
    env: setup.env(),
  });
  assert.equal(result.code, 0, result.stderr);
  const { rows, distinct, quarantined } = await counts(setup.db);
  assert.equal(rows + quarantined, sent, seedNote);
  assert.equal(distinct, rows, seedNote);
  assert.deepEqual(await setup.queue.depth(), { visible: 0, inFlight: 0, delayed: 0 });
});

Deno.test(`SIGTERM mid-run commits and deletes the in-flight batch and exits 0 (${DATABASE_KIND})`, async () => {
  await using setup = await processSetup();
  const sent = 6000;
  setup.send(generateLogins(sent, { malformedShare: 0.02 }));
  const child = spawnCli(["run", "--json", "--batch-size", "200"], { env: setup.env() });
  const exited = finished(child);
  await waitFor("the first committed batch", async () => await countWritten(setup.db) > 0);
  child.kill("SIGTERM");
  const result = await within("the ingest to stop after SIGTERM", exited, 30_000);
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stderr, /Stopping: writing and deleting what is in flight/);
  const summary = summaryOf(result.stdout);
  assert.ok(summary.received < sent, "the signal came after the queue was drained");
  assert.equal(summary.deleted, summary.received);
  const { rows, quarantined } = await counts(setup.db);
  assert.equal(rows + quarantined, summary.received);
  const depth = await setup.queue.depth();
  assert.equal(depth.visible + depth.inFlight, sent - summary.received);
});
