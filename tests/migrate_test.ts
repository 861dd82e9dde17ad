import assert from "node:assert/strict";
import { COLUMN_WIDTH } from "../lib/record/parse_message.ts";
import { migrate, MIGRATION_LOCK, MIGRATIONS } from "../lib/store/migrate.ts";
import { DATABASE_KIND, TestDatabase } from "./test_database.ts";
import { waitFor, within } from "./wait.ts";

const ALL = MIGRATIONS.map((m) => m.version);

/** The tables in the public schema, partitions left out (they come with the month). */
async function tables(db: ReturnType<TestDatabase["connect"]>): Promise<string[]> {
  const rows = await db<{ tableName: string }[]>`
    SELECT t.table_name FROM information_schema.tables t
    JOIN pg_class c ON c.oid = format('%I.%I', t.table_schema, t.table_name)::regclass
    WHERE t.table_schema = 'public' AND NOT c.relispartition ORDER BY t.table_name`;
  return rows.map((row) => row.tableName);
}

Deno.test(`migrate() applies every migration once, and a second run changes nothing (${DATABASE_KIND})`, async () => {
  await using database = await TestDatabase.create();
  const db = database.connect();
  assert.deepEqual(await migrate(db), ALL);
  const before = await tables(db);
  assert.deepEqual(before, [
    "archive_manifest",
    "ingest_quarantine",
    "pii_vault",
    "retention_audit",
    "reveal_audit",
    "user_logins",
    "vault_data_keys",
    "vaultline_migrations",
  ]);
  assert.deepEqual(await migrate(db), []);
  assert.deepEqual(await tables(db), before);
  const recorded = await db<
    { version: number }[]
  >`SELECT version FROM vaultline_migrations ORDER BY version`;
  assert.deepEqual(recorded.map((r) => r.version), ALL);
});

if (DATABASE_KIND === "Postgres") {
  Deno.test("migrate() waits for the migration lock another session holds, then applies each migration once (Postgres)", async () => {
    await using database = await TestDatabase.create();
    const holder = database.connect({ max: 1 });
    const observer = database.connect({ max: 1 });
    const a = database.connect({ max: 1 });
    const b = database.connect({ max: 1 });
    let release = () => {};
    const released = new Promise<void>((resolve) => (release = resolve));
    let held = () => {};
    const lockHeld = new Promise<void>((resolve) => (held = resolve));
    const holding = holder.begin(async (tx) => {
      await tx`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK}::bigint)`;
      held();
      await released;
    });
    await within("the other session to take the lock", lockHeld);
    const both = Promise.all([migrate(a), migrate(b)]);
    // Both migrations wait on the lock, and nothing is created while they do.
    await waitFor("both migrations to wait on the advisory lock", async () => {
      const [row] = await observer<{ n: number }[]>`
        SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND NOT granted`;
      return row!.n === 2;
    });
    assert.deepEqual(await tables(observer), []);
    release();
    await holding;
    const [fromA, fromB] = await within("the migrations to finish", both);
    assert.deepEqual([...fromA, ...fromB].sort(), ALL);
    assert.ok(fromA.length === 0 || fromB.length === 0, "both connections applied migrations");
  });
} else {
  Deno.test("migrate() from two connections applies each migration once (embedded PGlite serves one connection at a time, so they cannot contend)", async () => {
    await using database = await TestDatabase.create();
    const a = database.connect({ max: 1 });
    const b = database.connect({ max: 1 });
    const [fromA, fromB] = await Promise.all([migrate(a), migrate(b)]);
    assert.deepEqual([...fromA, ...fromB].sort(), ALL);
    assert.ok(fromA.length === 0 || fromB.length === 0, "both connections applied migrations");
    const [row] = await a<
      { count: number }[]
    >`SELECT count(*)::int AS count FROM vaultline_migrations`;
    assert.equal(row?.count, ALL.length);
  });
}

Deno.test(`the record rules' column widths are the widths of user_logins (${DATABASE_KIND})`, async () => {
  await using database = await TestDatabase.create();
  const db = database.connect();
  await migrate(db);
  const columns = await db<{ columnName: string; max: number }[]>`
    SELECT column_name, character_maximum_length AS max FROM information_schema.columns
    WHERE table_name = 'user_logins' AND column_name IN ${db(Object.keys(COLUMN_WIDTH))}`;
  assert.deepEqual(
    Object.fromEntries(columns.map((c) => [c.columnName, c.max])),
    { ...COLUMN_WIDTH },
  );
});

Deno.test(`migrate() upgrades a user_logins table made by the original DDL, keeping its rows (${DATABASE_KIND})`, async () => {
  await using database = await TestDatabase.create();
  const db = database.connect();
  await db.unsafe(`
    CREATE TABLE IF NOT EXISTS user_logins(
        user_id             varchar(128),
        device_type         varchar(32),
        masked_ip           varchar(256),
        masked_device_id    varchar(256),
        locale              varchar(32),
        app_version         integer,
        create_date         date
    );
    INSERT INTO user_logins VALUES
      ('u1', 'ios', 'old-ip-1', 'old-dev-1', 'RU', 230, '2020-01-01'),
      ('u2', 'android', 'old-ip-2', 'old-dev-2', NULL, 96, '2020-01-02');
  `).simple();
  assert.deepEqual(await migrate(db), ALL);
  const rows = await db`
    SELECT user_id, device_type, masked_ip, masked_device_id, locale, app_version,
           create_date::text AS create_date, message_id
    FROM user_logins ORDER BY user_id`;
  assert.deepEqual(rows.map((r) => ({ ...r })), [
    {
      userId: "u1",
      deviceType: "ios",
      maskedIp: "old-ip-1",
      maskedDeviceId: "old-dev-1",
      locale: "RU",
      appVersion: 230,
      createDate: "2020-01-01",
      messageId: null,
    },
    {
      userId: "u2",
      deviceType: "android",
      maskedIp: "old-ip-2",
      maskedDeviceId: "old-dev-2",
      locale: null,
      appVersion: 96,
      createDate: "2020-01-02",
      messageId: null,
    },
  ]);
  // The original columns keep their types.
  const columns = await db<{ columnName: string; dataType: string; max: number | null }[]>`
    SELECT column_name, data_type, character_maximum_length AS max
    FROM information_schema.columns WHERE table_name = 'user_logins' ORDER BY ordinal_position`;
  assert.deepEqual(columns.map((c) => `${c.columnName} ${c.dataType} ${c.max}`), [
    "user_id character varying 128",
    "device_type character varying 32",
    "masked_ip character varying 256",
    "masked_device_id character varying 256",
    "locale character varying 32",
    "app_version integer null",
    "create_date date null",
    "message_id character varying 128",
  ]);
});
