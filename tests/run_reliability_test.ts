/**
 * The command under faults, as a user runs it: settings no retry heals, stops during outages,
 * the database or SQS taken away and brought back, deletes that partly fail, consumers that
 * compete and die, bodies near SQS's size limit.
 */
import assert from "node:assert/strict";
import { generateLogins } from "../lib/sandbox/generate_logins.ts";
import { createKeyrings } from "../lib/vault/keyring.ts";
import { type CliResult, finished, killQuietly, runCli, spawnCli, watchCli } from "./cli.ts";
import { counts, type ProcessSetup, processSetup, summaryOf } from "./run_fixture.ts";
import { refuseDeletes, SqsProxy } from "./sqs_proxy.ts";
import { TcpProxy } from "./tcp_proxy.ts";
import { countWritten, DATABASE_KIND, holdTableLock, TestDatabase } from "./test_database.ts";
import { testRandom, waitFor, within } from "./wait.ts";

type Setup = ProcessSetup;

/** A database URL that reaches `setup`'s database through `proxy`. */
function through(proxy: TcpProxy, url: string): string {
  const proxied = new URL(url);
  proxied.port = String(proxy.port);
  return proxied.href;
}

/** Every message sent is a row or quarantined, once, and the queue holds nothing more. */
async function assertAccountedFor(setup: Setup, sent: number, note = ""): Promise<void> {
  const { rows, distinct, quarantined } = await counts(setup.db);
  assert.equal(distinct, rows, `a message was written twice ${note}`);
  assert.equal(rows + quarantined, sent, `rows + quarantine is not what was sent ${note}`);
  const [both] = await setup.db<{ n: number }[]>`
    SELECT count(*)::int AS n FROM user_logins JOIN ingest_quarantine USING (message_id)`;
  assert.equal(both!.n, 0, `a message is both a row and quarantined ${note}`);
}

/** Exit code 2 and one line on stderr, nothing on stdout. */
function assertRefused(result: CliResult, pattern: RegExp): void {
  assert.equal(result.code, 2, result.stderr);
  assert.equal(result.stdout, "");
  assert.match(result.stderr, /^vaultline: [^\n]*\n$/);
  assert.match(result.stderr, pattern);
}

Deno.test(`run exits 2 at once, with one line naming the setting, on what no retry heals (${DATABASE_KIND})`, async () => {
  await using setup = await processSetup();
  setup.send(generateLogins(50, { malformedShare: 0 }));
  const home = await Deno.makeTempDir();
  const { ingest } = await createKeyrings();
  const kek = ingest.keks[0];
  assert.ok(kek && "publicKey" in kek, "the new keyring's KEK is a file KEK");
  const offCurve = `${setup.dir}/off-curve.json`;
  await Deno.writeTextFile(
    offCurve,
    JSON.stringify({
      ...ingest,
      keks: [{ ...kek, publicKey: { ...kek.publicKey, y: kek.publicKey.x } }],
    }),
    { mode: 0o600 },
  );
  const env = setup.env();
  const cases: [string, Record<string, string>, RegExp][] = [
    [
      "a queue that does not exist",
      { ...env, SQS_QUEUE_URL: setup.queueUrl.replace(/login-queue$/, "no-such-queue") },
      /^vaultline: Cannot use SQS_QUEUE_URL "[^"]*no-such-queue": the queue does not exist/,
    ],
    [
      "no AWS credentials anywhere",
      {
        DATABASE_URL: env.DATABASE_URL!,
        SQS_QUEUE_URL: env.SQS_QUEUE_URL!,
        SQS_ENDPOINT: env.SQS_ENDPOINT!,
        VAULT_KEYRING: env.VAULT_KEYRING!,
        AWS_SHARED_CREDENTIALS_FILE: `${home}/credentials`,
        AWS_CONFIG_FILE: `${home}/config`,
        AWS_EC2_METADATA_DISABLED: "true",
      },
      /^vaultline: Cannot reach SQS_QUEUE_URL "[^"]+": no AWS credentials found/,
    ],
    [
      "a KEK public key off the P-256 curve",
      { ...env, VAULT_KEYRING: offCurve },
      /^vaultline: Invalid VAULT_KEYRING: Cannot read keyring "[^"]+": keks\[0\]\.publicKey is not a point on the P-256 curve/,
    ],
  ];
  let latin1: TestDatabase | undefined;
  if (DATABASE_KIND === "Postgres") {
    const url = new URL(env.DATABASE_URL!);
    url.username = "vaultline_no_such_role";
    cases.push([
      "a database user the server refuses",
      { ...env, DATABASE_URL: url.href },
      /^vaultline: Cannot use DATABASE_URL: the server refused the user \(invalid_authorization_specification\) \(SQLSTATE 28000\)/,
    ]);
    latin1 = await TestDatabase.create({ encoding: "LATIN1" });
    cases.push([
      "a database in LATIN1",
      { ...env, DATABASE_URL: latin1.url },
      /^vaultline: Cannot use DATABASE_URL: the database's encoding is LATIN1/,
    ]);
  }
  try {
    // Side by side: each must end on its own, long before a retry loop would give up.
    const results = await within(
      "every refused run to exit",
      Promise.all(cases.map(([, env]) => runCli(["run"], { env }))),
      30_000,
    );
    for (const [i, [name, , pattern]] of cases.entries()) {
      assertRefused(results[i]!, pattern);
      assert.ok(!results[i]!.stderr.includes("retrying"), `${name} was retried`);
    }
    assert.deepEqual(await counts(setup.db), { rows: 0, distinct: 0, quarantined: 0 });
  } finally {
    await latin1?.[Symbol.asyncDispose]();
    await Deno.remove(home, { recursive: true });
  }
});

Deno.test(`SIGTERM while the database is away exits within the stop timeout and leaves what it holds to the queue (${DATABASE_KIND})`, async () => {
  await using setup = await processSetup();
  await using proxy = TcpProxy.start(Number(new URL(setup.database.url).port));
  const sent = 3000;
  setup.send(generateLogins(sent, { malformedShare: 0.02 }));
  const run = watchCli(["run", "--json", "--batch-size", "100", "--stop-timeout", "2"], {
    env: setup.env(undefined, through(proxy, setup.database.url)),
  });
  try {
    await waitFor("the first committed batch", async () => await countWritten(setup.db) > 0);
    await proxy.cut();
    await waitFor("a write retry", () => run.output.stderr.includes("Cannot write a batch"));
    const signalled = performance.now();
    run.child.kill("SIGTERM");
    const result = await within("the ingest to exit after SIGTERM", run.finished, 15_000);
    const seconds = (performance.now() - signalled) / 1000;
    // The stop timeout, then at most 2 s to return what is held, and the exit.
    assert.ok(seconds < 2 + 4, `exited ${seconds.toFixed(1)}s after SIGTERM`);
    assert.equal(result.code, 1, result.stderr);
    const summary = summaryOf(result.stdout);
    assert.ok(summary.left > 0, "nothing was left in flight");
    // Each worker reports what it leaves; together, what the summary counts.
    const leftLines = [
      ...result.stderr.matchAll(/Left (\d+) messages to the queue \(\d+ of them written/g),
    ];
    assert.ok(leftLines.length > 0, "no line says what was left to the queue");
    assert.equal(leftLines.reduce((sum, [, n]) => sum + Number(n), 0), summary.left);
    // Nothing uncommitted was deleted: every message is written or still queued.
    proxy.restore();
    const written = await countWritten(setup.db);
    const depth = await setup.queue.depth();
    assert.ok(written >= summary.deleted);
    assert.ok(written + depth.visible + depth.inFlight >= sent, "a message was lost");
  } finally {
    proxy.restore();
    killQuietly(run.child);
    await run.finished.catch(() => {});
  }
});

Deno.test(`run survives the database taken away and brought back: none lost, none doubled (${DATABASE_KIND})`, async () => {
  await using setup = await processSetup();
  await using proxy = TcpProxy.start(Number(new URL(setup.database.url).port));
  const sent = 3000;
  setup.send(generateLogins(sent, { malformedShare: 0.02 }));
  const run = watchCli(["run", "--until-empty", "--json", "--batch-size", "100"], {
    env: setup.env(undefined, through(proxy, setup.database.url)),
  });
  try {
    await waitFor("the first committed batch", async () => await countWritten(setup.db) > 0);
    await proxy.cut();
    await waitFor("a write retry", () => run.output.stderr.includes("Cannot write a batch"));
    assert.ok(await countWritten(setup.db) < sent, "the cut came after the drain");
    proxy.restore();
    const result = await within("the drain once the database is back", run.finished);
    assert.equal(result.code, 0, result.stderr);
    await assertAccountedFor(setup, sent);
    assert.deepEqual(await setup.queue.depth(), { visible: 0, inFlight: 0, delayed: 0 });
  } finally {
    proxy.restore();
    killQuietly(run.child);
    await run.finished.catch(() => {});
  }
});

Deno.test(`run survives SQS taken away and brought back: none lost, none doubled (${DATABASE_KIND})`, async () => {
  await using setup = await processSetup();
  await using proxy = TcpProxy.start(Number(new URL(setup.sqs.endpoint).port));
  const sent = 3000;
  setup.send(generateLogins(sent, { malformedShare: 0.02 }));
  // A long poll the cut left waiting on the emulator's side can still take messages: a short
  // visibility timeout returns them soon, and the drain waits for them.
  const run = watchCli(
    ["run", "--until-empty", "--json", "--batch-size", "100", "--visibility-timeout", "5"],
    { env: setup.env(`http://127.0.0.1:${proxy.port}`) },
  );
  try {
    await waitFor("the first committed batch", async () => await countWritten(setup.db) > 0);
    await proxy.cut();
    await waitFor(
      "a failed receive or delete",
      () => /Cannot (receive from the queue|delete \d+ written)/.test(run.output.stderr),
    );
    proxy.restore();
    const result = await within("the drain once SQS is back", run.finished);
    assert.equal(result.code, 0, result.stderr);
    await assertAccountedFor(setup, sent);
    assert.deepEqual(await setup.queue.depth(), { visible: 0, inFlight: 0, delayed: 0 });
  } finally {
    proxy.restore();
    killQuietly(run.child);
    await run.finished.catch(() => {});
  }
});

Deno.test(`run when DeleteMessageBatch partly fails retries the refused entries: none lost, none doubled (${DATABASE_KIND})`, async () => {
  await using setup = await processSetup();
  const { random, seedNote } = testRandom();
  const sent = 2000;
  setup.send(generateLogins(sent, { malformedShare: 0.02, random }));
  // A third of the entries is refused the first time it is asked for.
  const refusedOnce = new Set<string>();
  await using proxy = SqsProxy.start(
    setup.sqs.endpoint,
    refuseDeletes((handle) => {
      if (refusedOnce.has(handle) || random() > 1 / 3) return false;
      refusedOnce.add(handle);
      return true;
    }),
  );
  const result = await runCli(["run", "--until-empty", "--json", "--batch-size", "100"], {
    env: setup.env(proxy.endpoint),
  });
  assert.equal(result.code, 0, result.stderr);
  assert.ok(refusedOnce.size > 0, `no delete was refused ${seedNote}`);
  assert.match(result.stderr, /Cannot delete \d+ written messages, retrying/);
  const summary = summaryOf(result.stdout);
  assert.equal(summary.deleted, sent, seedNote);
  await assertAccountedFor(setup, sent, seedNote);
  assert.deepEqual(await setup.queue.depth(), { visible: 0, inFlight: 0, delayed: 0 });
});

if (DATABASE_KIND === "Postgres") {
  Deno.test("run's sessions end on the server what the client gave up on: a statement waiting on a lock (Postgres)", async () => {
    await using setup = await processSetup();
    setup.send(generateLogins(300, { malformedShare: 0 }));
    const { release, ended } = await holdTableLock(setup.db, "user_logins");
    const name = new URL(setup.database.url).pathname.slice(1);
    const waiting = async () =>
      (await setup.db<{ pid: number }[]>`
        SELECT pid FROM pg_stat_activity
        WHERE datname = ${name} AND application_name = 'vaultline' AND wait_event_type = 'Lock'`)
        .map((row) => row.pid);
    const run = watchCli(["run", "--until-empty", "--json", "--write-timeout", "1"], {
      env: setup.env(),
    });
    try {
      await waitFor("a write waiting on the lock", async () => (await waiting()).length > 0);
      const abandoned = await waiting();
      await waitFor(
        "the client to give up on the write",
        () => run.output.stderr.includes("did not finish within 1.0s"),
      );
      // Without statement_timeout the server would keep it waiting, and locking, until the lock
      // holder ends; here it ends it, while the lock is still held.
      await waitFor(
        "the server to end the abandoned statements",
        async () => !(await waiting()).some((pid) => abandoned.includes(pid)),
        { timeoutMs: 10_000 },
      );
      release();
      await ended;
      const result = await within("the drain once the lock is gone", run.finished);
      assert.equal(result.code, 0, result.stderr);
      await assertAccountedFor(setup, 300);
    } finally {
      release();
      killQuietly(run.child);
      await run.finished.catch(() => {});
    }
  });
}

Deno.test(`three competing consumers drain 20,000 messages, one killed with kill -9 and restarted: each written once (${DATABASE_KIND})`, async () => {
  await using setup = await processSetup();
  const { random, seedNote } = testRandom();
  const sent = 20_000;
  setup.send(generateLogins(sent, { malformedShare: 0.02, random }));
  const args = [
    "run",
    "--until-empty",
    "--json",
    "--visibility-timeout",
    "3",
    "--batch-size",
    "250",
  ];
  const start = () => watchCli(args, { env: setup.env() });
  const consumers = [start(), start(), start()];
  try {
    await waitFor(
      `a fifth of the queue written ${seedNote}`,
      async () => await countWritten(setup.db) >= sent / 5,
    );
    const victim = consumers[Math.floor(random() * 3)]!;
    victim.child.kill("SIGKILL");
    assert.equal((await within("the killed consumer to exit", victim.finished)).code, 137);
    const written = await countWritten(setup.db);
    assert.ok(written < sent, `the kill came after the drain ${seedNote}`);
    const restarted = start();
    const results = await within(
      "every consumer to drain the queue",
      Promise.all([...consumers.filter((c) => c !== victim), restarted].map((c) => c.finished)),
      90_000,
    );
    for (const result of results) assert.equal(result.code, 0, result.stderr);
    await assertAccountedFor(setup, sent, seedNote);
    assert.deepEqual(await setup.queue.depth(), { visible: 0, inFlight: 0, delayed: 0 });
    consumers.push(restarted);
  } finally {
    for (const consumer of consumers) {
      killQuietly(consumer.child);
      await consumer.finished.catch(() => {});
    }
  }
});

/** The peak resident memory the README states for draining bodies near SQS's 256 KiB limit. */
const PEAK_RSS_MIB = 400;

Deno.test(`run on one thread drains bodies near 256 KiB within ${PEAK_RSS_MIB} MiB of resident memory (${DATABASE_KIND})`, async () => {
  await using setup = await processSetup();
  const sent = 300;
  const filler = "f".repeat(250 * 1024);
  // Half are logins with a huge device_id (tokenized, sealed), half not JSON (sealed whole).
  setup.send(
    Array.from({ length: sent }, (_, i) =>
      i % 2 === 0
        ? JSON.stringify({
          user_id: `u-${i}`,
          app_version: "1.2",
          device_type: "ios",
          ip: `10.1.${i >> 8}.${i & 255}`,
          locale: null,
          device_id: `${i}-${filler}`,
        })
        : `${i}-${filler}`),
  );
  // GNU time reports the child's peak resident set size as the kernel measured it.
  const result = await within(
    "the drain",
    finished(spawnCli(["run", "--until-empty", "--json", "--workers", "1"], {
      env: setup.env(),
      wrapper: ["/usr/bin/time", "-f", "peak-rss-kib=%M"],
    })),
  );
  assert.equal(result.code, 0, result.stderr);
  const peakKib = Number(/^peak-rss-kib=(\d+)$/m.exec(result.stderr)?.[1]);
  assert.ok(peakKib > 50 * 1024, `no peak resident memory reported: ${result.stderr}`);
  const peak = peakKib / 1024;
  assert.ok(peak < PEAK_RSS_MIB, `peak resident memory ${peak.toFixed(0)} MiB`);
  console.log(`peak resident memory: ${peak.toFixed(0)} MiB for ${sent} bodies of 250 KiB`);
  await assertAccountedFor(setup, sent);
});
