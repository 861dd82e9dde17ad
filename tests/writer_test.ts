import assert from "node:assert/strict";
import type { IngestEvent } from "../lib/ingest/events.ts";
import { isPermanent } from "../lib/failure.ts";
import { prepareDatabase } from "../lib/ingest/prepare_database.ts";
import { BatchWriter, POISON_ATTEMPTS, WriteHalted } from "../lib/ingest/writer.ts";
import { type InboundMessage, isRejection, parseMessage } from "../lib/record/parse_message.ts";
import { connectDatabase, type Database } from "../lib/store/database.ts";
import { migrate } from "../lib/store/migrate.ts";
import { FakeClock } from "./fake_clock.ts";
import { countRows, DATABASE_KIND, holdTableLock, TestDatabase } from "./test_database.ts";
import { freshKeys, sampleMessages } from "./vault_fixture.ts";
import { delay, waitFor, within } from "./wait.ts";

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
    vault,
    batch: sampleMessages(),
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
  await using writer = new BatchWriter(
    { connect, vault: setup.vault, clock, emit: (e) => events.push(e) },
    { timeoutMs: 60_000 },
  );
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
  assert.equal(result.written.length, 100);
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
    vault: setup.vault,
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
  assert.equal(result.written.length, 100);
  assert.equal(await countRows(setup.db, "user_logins"), 99);
});

/** A writer on `setup`'s database with a fake clock, recording its events. */
function poisonWriter(setup: Awaited<ReturnType<typeof writerSetup>>) {
  const clock = new FakeClock();
  const events: IngestEvent[] = [];
  const writer = new BatchWriter({
    connect: () => setup.database.connect({ max: 1 }),
    vault: setup.vault,
    clock,
    emit: (e) => events.push(e),
  }, { timeoutMs: 3_600_000 });
  return { clock, events, writer };
}

/** The first sample message the record rules accept, and its user_id. */
function aValidSample(index: number): { message: InboundMessage; userId: string } {
  const message = sampleMessages().filter((m) => !isRejection(parseMessage(m)))[index]!;
  return { message, userId: JSON.parse(message.body).user_id };
}

Deno.test(`BatchWriter splits a batch the database refuses, quarantines the one message behind it, and writes the rest (${DATABASE_KIND})`, async () => {
  await using setup = await writerSetup();
  const { message: poison, userId } = aValidSample(41);
  // A constraint the record rules know nothing of; its error's detail quotes the row's values.
  await setup.db.unsafe(
    `ALTER TABLE user_logins ADD CONSTRAINT no_poison CHECK (user_id <> '${userId}')`,
  );
  const { clock, events, writer } = poisonWriter(setup);
  await using _ = writer;
  const outcome = await within("the write", clock.drive(writer.write(setup.batch)));
  assert.equal(outcome.written.length, 100);
  assert.equal(outcome.unwritable.length, 0);
  assert.equal(await countRows(setup.db, "user_logins"), 98);
  const quarantined = await setup.db<{ messageId: string; reason: string }[]>`
    SELECT message_id, reason FROM ingest_quarantine ORDER BY message_id`;
  assert.equal(quarantined.length, 2);
  assert.deepEqual(quarantined.find((row) => row.messageId === poison.messageId), {
    messageId: poison.messageId,
    reason: 'database error 23514 (check_violation) on "no_poison"',
  });
  const splits = events.filter((e) => e.type === "poison");
  assert.ok(splits.length >= Math.log2(100), `${splits.length} splits`);
  assert.deepEqual(splits[0], { type: "poison", count: 100, code: "23514", field: "no_poison" });
  const retries = events.flatMap((e) => e.type === "retry" ? [e] : []);
  assert.deepEqual(
    retries.map((e) => [e.count, e.code, e.delayMs]),
    Array.from({ length: POISON_ATTEMPTS - 1 }, (_, i) => [1, "23514", 100 * (i + 1)]),
  );
  assert.ok(!JSON.stringify(events).includes(userId), "an event quotes the refused row");
});

Deno.test(`BatchWriter leaves a message that even quarantine refuses to the queue, and writes the rest (${DATABASE_KIND})`, async () => {
  await using setup = await writerSetup();
  const { message: poison } = aValidSample(3);
  await setup.db.unsafe(`
    CREATE FUNCTION refuse_one() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF NEW.message_id = '${poison.messageId}' THEN
        RAISE EXCEPTION 'refusing %', NEW.message_id;
      END IF;
      RETURN NEW;
    END $$;
    CREATE TRIGGER refuse_one BEFORE INSERT ON user_logins
      FOR EACH ROW EXECUTE PROCEDURE refuse_one();
    CREATE TRIGGER refuse_one BEFORE INSERT ON ingest_quarantine
      FOR EACH ROW EXECUTE PROCEDURE refuse_one();`);
  const { clock, events, writer } = poisonWriter(setup);
  await using _ = writer;
  const outcome = await within("the write", clock.drive(writer.write(setup.batch)));
  assert.deepEqual(outcome.unwritable, [poison]);
  assert.equal(outcome.written.length, 99);
  assert.ok(!outcome.written.includes(poison));
  assert.equal(await countRows(setup.db, "user_logins"), 98);
  assert.equal(await countRows(setup.db, "ingest_quarantine"), 1);
  assert.deepEqual(events.filter((e) => e.type === "unwritable"), [
    { type: "unwritable", messageId: poison.messageId, code: "P0001" },
  ]);
});

Deno.test(`BatchWriter throws a permanent failure at once, without a retry (${DATABASE_KIND})`, async () => {
  await using setup = await writerSetup();
  await setup.db`ALTER TABLE user_logins RENAME TO user_logins_elsewhere`;
  const { clock, events, writer } = poisonWriter(setup);
  await using _ = writer;
  await assert.rejects(clock.drive(writer.write(setup.batch)), (error: Error) => {
    assert.ok(isPermanent(error), String(error));
    assert.equal(
      error.message,
      "Cannot use DATABASE_URL: the schema does not match what the migrations create " +
        "(SQLSTATE 42P01)",
    );
    return true;
  });
  assert.deepEqual(events, []);
});

Deno.test(`BatchWriter stops retrying at once when its signal aborts, leaving the batch unwritten (${DATABASE_KIND})`, async () => {
  await using setup = await writerSetup();
  const clock = new FakeClock();
  const events: IngestEvent[] = [];
  const refused = new URL(setup.database.url);
  refused.port = String(closedPort());
  await using writer = new BatchWriter({
    connect: () => connectDatabase(refused.href, { max: 1 }),
    vault: setup.vault,
    clock,
    emit: (e) => events.push(e),
  }, { timeoutMs: 60_000 });
  const stop = new AbortController();
  const writing = writer.write(setup.batch, { signal: stop.signal });
  await waitFor("a retry of the refused connection", () => events.some((e) => e.type === "retry"));
  stop.abort();
  await assert.rejects(within("the halted write", writing, 5000), WriteHalted);
  assert.equal(await countRows(setup.db, "user_logins"), 0);
});

if (DATABASE_KIND === "Postgres") {
  Deno.test("BatchWriter quarantines a value a LATIN1 database cannot hold, naming the code, never its bytes (Postgres)", async () => {
    await using database = await TestDatabase.create({ encoding: "LATIN1" });
    const db = database.connect();
    await assert.rejects(prepareDatabase(db), (error: Error) => {
      assert.ok(isPermanent(error));
      assert.match(error.message, /^Cannot use DATABASE_URL: the database's encoding is LATIN1/);
      return true;
    });
    const { vault } = await freshKeys();
    const messages = sampleMessages();
    const { message } = aValidSample(0);
    const userId = "пользователь-用户";
    const hostile = {
      ...message,
      body: JSON.stringify({ ...JSON.parse(message.body), user_id: userId }),
    };
    const batch = messages.map((m) => m.messageId === hostile.messageId ? hostile : m);
    const clock = new FakeClock();
    const events: IngestEvent[] = [];
    await using writer = new BatchWriter({
      connect: () => database.connect({ max: 1 }),
      vault,
      clock,
      emit: (e) => events.push(e),
    }, { timeoutMs: 3_600_000 });
    const outcome = await within("the write", clock.drive(writer.write(batch)));
    assert.equal(outcome.written.length, 100);
    assert.equal(await countRows(db, "user_logins"), 98);
    const [row] = await db<{ reason: string }[]>`
      SELECT reason FROM ingest_quarantine WHERE message_id = ${hostile.messageId}`;
    assert.equal(row?.reason, "database error 22P05 (untranslatable_character)");
    const reported = JSON.stringify(events);
    assert.ok(!reported.includes(userId.slice(0, 4)), "an event quotes the value");
    // The server's message names the bytes it cannot translate: "byte sequence 0xd0 0xbf".
    assert.ok(!/0x[0-9a-f]{2}/.test(reported), "an event quotes the value's bytes");
  });
}

Deno.test(`BatchWriter keeps the process alive when postgres.js flushes a write to a socket it dropped or the server ended (${DATABASE_KIND})`, async () => {
  await using setup = await writerSetup();
  const { writer } = poisonWriter(setup);
  await using _ = writer;
  // What postgres.js 3.4.9 throws from a timer after a pool ended mid-reconnect, loaded from
  // Deno's cache or from node_modules (nodeModulesDir "auto").
  for (
    const path of [
      "/root/.cache/deno/npm/registry.npmjs.org/postgres/3.4.9/src/connection.js",
      "/srv/vaultline/node_modules/.deno/postgres@3.4.9/node_modules/postgres/src/connection.js",
    ]
  ) {
    const error = new TypeError("Cannot read properties of null (reading 'write')");
    error.stack = `${error.message}\n    at Immediate.nextWrite (file://${path}:255:22)`;
    const thrown = new Promise<void>((resolve) =>
      setTimeout(() => {
        resolve();
        throw error;
      }, 0)
    );
    await thrown;
    await delay(10);
  }
  // The same late write to a socket the server ended: an EPIPE error, rejected with nothing
  // awaiting it.
  const ended = Object.assign(new Error("This socket has been ended by the other party"), {
    code: "EPIPE",
  });
  ended.stack = `Error: ${ended.message}\n    at Socket._writeAfterFIN (ext:deno_node/net.ts:1:1)` +
    "\n    at Immediate.nextWrite (file:///srv/vaultline/node_modules/.deno/postgres@3.4.9/" +
    "node_modules/postgres/src/connection.js:255:22)";
  Promise.reject(ended);
  // And a dropped pool's connection attempt, refused with nothing awaiting it.
  const refused = Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:1"), {
    code: "ECONNREFUSED",
  });
  refused.stack = `Error: ${refused.message}\n    at _afterConnectImpl (ext:deno_node/net.ts:1:1)`;
  Promise.reject(refused);
  await delay(10);
  const outcome = await within("a write after it", writer.write(setup.batch.slice(0, 10)));
  assert.equal(outcome.written.length, 10);
});
