import assert from "node:assert/strict";
import type { IngestEvent } from "../lib/ingest/events.ts";
import { PartitionKeeper } from "../lib/ingest/partition_keeper.ts";
import { parseMessage } from "../lib/record/parse_message.ts";
import { EmbeddedSqs } from "../lib/sandbox/embedded_sqs.ts";
import { connectDatabase, type Database } from "../lib/store/database.ts";
import { migrate } from "../lib/store/migrate.ts";
import {
  ensureMonthPartitions,
  ensureUpcomingPartitions,
  isPartitioned,
  monthPartitions,
} from "../lib/store/partitions.ts";
import { FakeClock } from "./fake_clock.ts";
import { countRows, DATABASE_KIND, TestDatabase } from "./test_database.ts";
import { freshKeys, sampleBodies, sampleMessages, sealAndWrite } from "./vault_fixture.ts";
import { within } from "./wait.ts";

/** The rows of `table` as `message_id create_date`, sorted. */
async function rowsOf(db: Database, table: string): Promise<string[]> {
  const rows = await db<{ row: string }[]>`
    SELECT coalesce(message_id, '-') || ' ' || coalesce(create_date::text, '-') AS row
    FROM ${db(table)} ORDER BY 1`;
  return rows.map((r) => r.row);
}

/** The sample messages `from` to `to` (1-based), sent at `sentAt`, parsed. */
function sample(sentAt: string, from = 1, to = 5) {
  return sampleBodies().slice(from - 1, to).map((body, i) =>
    parseMessage({ messageId: `m-${sentAt}-${from + i}`, body, sentAt: new Date(sentAt) })
  );
}

Deno.test(`an insert for a month with no partition lands in the default partition, and making the partition moves it in (${DATABASE_KIND})`, async () => {
  await using database = await TestDatabase.create();
  const db = database.connect();
  await migrate(db);
  assert.ok(await isPartitioned(db));
  const { vault } = await freshKeys();
  const messages = sample("2031-05-20T08:00:00Z");
  const first = await db.begin((tx) => sealAndWrite(tx, messages, vault));
  assert.equal(first.inserted, 5);
  assert.equal((await rowsOf(db, "user_logins_default")).length, 5);

  assert.deepEqual(await ensureMonthPartitions(db, ["2031-05", "2031-05"]), ["2031-05"]);
  assert.equal(await countRows(db, "user_logins_default"), 0);
  assert.deepEqual(await rowsOf(db, "user_logins_2031_05"), await rowsOf(db, "user_logins"));
  assert.equal(await countRows(db, "user_logins"), 5);
  assert.deepEqual(await ensureMonthPartitions(db, ["2031-05"]), [], "made twice");

  // The unique key holds across the move: the same messages again add nothing.
  const again = await db.begin((tx) => sealAndWrite(tx, messages, vault));
  assert.deepEqual([again.inserted, again.duplicates], [0, 5]);
  assert.equal(await countRows(db, "user_logins"), 5);
});

Deno.test(`ensureUpcomingPartitions() makes this month's and next month's partitions, across a year's end (${DATABASE_KIND})`, async () => {
  await using database = await TestDatabase.create();
  const db = database.connect();
  await migrate(db);
  assert.deepEqual(
    await ensureUpcomingPartitions(db, new Date("2030-12-31T23:59:59Z")),
    ["2030-12", "2031-01"],
  );
  const months = (await monthPartitions(db)).map((p) => p.month);
  assert.ok(months.includes("2030-12") && months.includes("2031-01"), months.join(" "));
  await assert.rejects(ensureMonthPartitions(db, ["2030-13"]), /Invalid month "2030-13"/);
});

Deno.test(`PartitionKeeper makes the upcoming months at start, then each new month of a batch and the one after, once (${DATABASE_KIND})`, async () => {
  await using database = await TestDatabase.create();
  const db = database.connect();
  await migrate(db);
  const events: IngestEvent[] = [];
  const keeper = new PartitionKeeper({
    connect: () => database.connect({ max: 1 }),
    clock: new FakeClock(Date.UTC(2032, 2, 10)),
    emit: (event) => events.push(event),
  });
  await keeper.ensureUpcoming();
  const batch = (sentAt: string) => sampleMessages(new Date(sentAt));
  await keeper.ensureFor(batch("2032-03-11T00:00:00Z"));
  await keeper.ensureFor(batch("2032-07-01T00:00:00Z"));
  await keeper.ensureFor(batch("2032-07-02T00:00:00Z"));
  assert.deepEqual(events, [
    { type: "partitionsCreated", months: ["2032-03", "2032-04"] },
    { type: "partitionsCreated", months: ["2032-07", "2032-08"] },
  ]);
});

Deno.test("PartitionKeeper reports a database it cannot reach, lets the ingest go on, and tries again", async () => {
  const events: IngestEvent[] = [];
  const keeper = new PartitionKeeper({
    // Nothing listens on the discard port of loopback: every connection is refused.
    connect: () => connectDatabase("postgres://postgres@127.0.0.1:9/none"),
    clock: new FakeClock(Date.UTC(2032, 2, 10)),
    emit: (event) => events.push(event),
  });
  await within("the keeper to give up", keeper.ensureUpcoming(), 15_000);
  await within("the keeper to give up again", keeper.ensureUpcoming(), 15_000);
  assert.deepEqual(events.map((e) => e.type), ["partitionsMissing", "partitionsMissing"]);
  const [event] = events;
  assert.ok(event?.type === "partitionsMissing");
  assert.deepEqual(event.months, ["2032-03", "2032-04"]);
  assert.ok(event.cause.length > 0);
});

Deno.test(`a redelivered message keeps its SentTimestamp, so it keeps its (message_id, create_date) key and adds nothing (${DATABASE_KIND})`, async () => {
  await using database = await TestDatabase.create();
  const db = database.connect();
  await migrate(db);
  await using sqs = await EmbeddedSqs.start();
  const queue = sqs.openQueue("login-queue");
  try {
    const { vault } = await freshKeys();
    sqs.sendMessage("login-queue", sampleBodies()[0]!);
    const receive = async () => {
      const received = await queue.receive({ max: 10, waitSeconds: 1, visibilitySeconds: 30 });
      assert.equal(received.length, 1);
      return received[0]!;
    };
    const first = await receive();
    // Visibility 0: SQS hands the message out again, as after a crash before its delete.
    assert.deepEqual(await queue.extendVisibility([first], 0), []);
    const second = await receive();
    assert.equal(second.messageId, first.messageId);
    assert.notEqual(second.receiptHandle, first.receiptHandle, "not a second delivery");
    assert.equal(second.sentAt.getTime(), first.sentAt.getTime());

    const written = await db.begin((tx) => sealAndWrite(tx, [parseMessage(first)], vault));
    const redelivered = await db.begin((tx) => sealAndWrite(tx, [parseMessage(second)], vault));
    assert.deepEqual([written.inserted, redelivered.inserted, redelivered.duplicates], [1, 0, 1]);
    assert.equal(await countRows(db, "user_logins"), 1);
  } finally {
    queue.close();
  }
});

Deno.test(`migrate() upgrades an original-DDL table with rows of several months in place, into their partitions (${DATABASE_KIND})`, async () => {
  await using database = await TestDatabase.create();
  const db = database.connect();
  await db.unsafe(`
    CREATE TABLE user_logins(
        user_id             varchar(128),
        device_type         varchar(32),
        masked_ip           varchar(256),
        masked_device_id    varchar(256),
        locale              varchar(32),
        app_version         integer,
        create_date         date
    );
    INSERT INTO user_logins VALUES
      ('u1', 'ios', 'ip-1', 'dev-1', 'RU', 230, '2025-01-31'),
      ('u1', 'ios', 'ip-1', 'dev-1', 'RU', 230, '2025-01-31'),
      ('u2', 'android', 'ip-2', 'dev-2', NULL, 96, '2025-02-01'),
      ('u3', 'web', 'ip-3', 'dev-3', 'en', 10000, NULL);
  `).simple();
  const before = await db`SELECT * FROM user_logins ORDER BY user_id, create_date`;
  await migrate(db);
  assert.ok(await isPartitioned(db));
  const after = await db`
    SELECT user_id, device_type, masked_ip, masked_device_id, locale, app_version, create_date
    FROM user_logins ORDER BY user_id, create_date`;
  assert.deepEqual(after.map((r) => ({ ...r })), before.map((r) => ({ ...r })));
  assert.equal(await countRows(db, "user_logins_2025_01"), 2, "both identical rows kept");
  assert.equal(await countRows(db, "user_logins_2025_02"), 1);
  assert.deepEqual(await rowsOf(db, "user_logins_default"), ["- -"]);
  const [index] = await db<{ definition: string }[]>`
    SELECT pg_get_indexdef(indexrelid) AS definition FROM pg_index
    WHERE indrelid = 'user_logins'::regclass AND indisunique`;
  assert.match(index?.definition ?? "", /UNIQUE INDEX .* \(message_id, create_date\)/);
});

if (DATABASE_KIND === "Postgres") {
  Deno.test("migrate() carries the grants of the original table over to the partitioned one (Postgres)", async () => {
    await using database = await TestDatabase.create();
    const db = database.connect();
    // Roles are cluster-wide: a name of this test's own, dropped at the end.
    const role = `vaultline_test_reader_${crypto.getRandomValues(new Uint8Array(4)).toHex()}`;
    await db`CREATE ROLE ${db(role)}`;
    try {
      await db.unsafe(`CREATE TABLE user_logins(
        user_id varchar(128), device_type varchar(32), masked_ip varchar(256),
        masked_device_id varchar(256), locale varchar(32), app_version integer, create_date date)`);
      await db`GRANT SELECT, INSERT ON user_logins TO ${db(role)}`;
      await migrate(db);
      const [row] = await db<{ select: boolean; insert: boolean; update: boolean }[]>`
        SELECT has_table_privilege(${role}, 'user_logins', 'SELECT') AS select,
               has_table_privilege(${role}, 'user_logins', 'INSERT') AS insert,
               has_table_privilege(${role}, 'user_logins', 'UPDATE') AS update`;
      assert.deepEqual({ ...row }, { select: true, insert: true, update: false });
    } finally {
      await db`REVOKE ALL ON user_logins FROM ${db(role)}`;
      await db`DROP ROLE ${db(role)}`;
    }
  });
}
