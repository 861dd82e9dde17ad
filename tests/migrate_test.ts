import assert from "node:assert/strict";
import { verifyAuditChain } from "../lib/cli/audit_verify.ts";
import { ConfigError } from "../lib/config_error.ts";
import { COLUMN_WIDTH } from "../lib/record/parse_message.ts";
import { readAudit } from "../lib/store/audit.ts";
import {
  migrate,
  MIGRATION_LOCK,
  MIGRATIONS,
  pendingMigrations,
  requireCurrentSchema,
} from "../lib/store/migrate.ts";
import { recordReveal } from "../lib/store/reveal.ts";
import { DEFAULT_REVEAL_POLICY, readRevealPolicy } from "../lib/store/reveal_policy.ts";
import { runCli } from "./cli.ts";
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
    "reveal_policy",
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

Deno.test(`pendingMigrations() and requireCurrentSchema() name what a database lacks, without creating anything (${DATABASE_KIND})`, async () => {
  await using database = await TestDatabase.create();
  const db = database.connect();
  const names = MIGRATIONS.map((m) => m.name);
  assert.deepEqual((await pendingMigrations(db)).map((m) => m.name), names);
  await assert.rejects(requireCurrentSchema(db), (error: Error) => {
    assert.ok(error instanceof ConfigError);
    assert.ok(
      error.message.includes(
        `${names.map((n) => `"${n}"`).join(", ")} is not applied: run "deno task migrate"`,
      ),
      error.message,
    );
    return true;
  });
  assert.deepEqual(await tables(db), []);
  await migrate(db, { through: 1 });
  assert.deepEqual((await pendingMigrations(db)).map((m) => m.name), names.slice(1));
  await migrate(db);
  assert.deepEqual(await pendingMigrations(db), []);
  await requireCurrentSchema(db);
  assert.deepEqual(await readRevealPolicy(db), DEFAULT_REVEAL_POLICY);
});

Deno.test(`migrate() chains the reveal_audit rows written before the audit was chained (${DATABASE_KIND})`, async () => {
  await using database = await TestDatabase.create();
  const db = database.connect();
  await migrate(db, { through: 1 });
  // Ids with a gap, as rolled-back reveals left them.
  await db`
    INSERT INTO reveal_audit (id, os_user, reason, tokens, token_count) VALUES
      (1, 'alice', 'first', ${["ip1_" + "a".repeat(32)]}, 1),
      (2, 'bob', 'second', ${["dev1_" + "b".repeat(32)]}, 1),
      (5, 'carol', 'third', '{}', 0)`;
  assert.deepEqual(await migrate(db), ALL.slice(1));
  const rows = await readAudit(db);
  assert.deepEqual(rows.map((r) => [r.id, r.kind, r.osUser, r.reason]), [
    ["1", "reveal", "alice", "first"],
    ["2", "reveal", "bob", "second"],
    ["5", "reveal", "carol", "third"],
  ]);
  assert.deepEqual(await verifyAuditChain(db), {
    rows: 3,
    head: { id: "5", hash: rows[2]?.rowHash },
  });
  const next = await recordReveal(db, {
    subject: { tokens: ["ip1_" + "c".repeat(32)] },
    reason: "after the upgrade",
    osUser: "dave",
    bulk: false,
    masked: false,
  });
  assert.equal(next, "6");
  assert.equal((await verifyAuditChain(db)).rows, 4);
});

Deno.test(`migrate applies the schema, then sets the reveal policy from the environment and audits a change (${DATABASE_KIND})`, async () => {
  await using database = await TestDatabase.create();
  const db = database.connect();
  const env = (extra: Record<string, string> = {}) => ({ DATABASE_URL: database.url, ...extra });
  const first = await runCli(["migrate"], {
    env: env({ VAULT_REASON_PATTERN: "^[A-Z]+-[0-9]+", VAULT_BULK_LIMIT: "50" }),
  });
  assert.equal(first.code, 0, first.stderr);
  assert.deepEqual(first.stdout.trim().split("\n"), [
    `Applied ${MIGRATIONS.map((m) => m.name).join(", ")}`,
    'Reveal policy: a reason needs 8 visible characters, matching "^[A-Z]+-[0-9]+"; ' +
    "more than 50 tokens need --bulk (changed, recorded in the audit)",
  ]);
  assert.deepEqual(await readRevealPolicy(db), {
    minReasonChars: 8,
    reasonPattern: "^[A-Z]+-[0-9]+",
    bulkLimit: 50,
  });
  const badPattern = await runCli(["migrate"], { env: env({ VAULT_REASON_PATTERN: "([" }) });
  assert.equal(badPattern.code, 2, badPattern.stderr);
  assert.match(badPattern.stderr, /^vaultline: Invalid VAULT_REASON_PATTERN "\(\[": /);
  const badLimit = await runCli(["migrate"], { env: env({ VAULT_BULK_LIMIT: "0" }) });
  assert.equal(badLimit.code, 2, badLimit.stderr);
  assert.match(badLimit.stderr, /Invalid VAULT_BULK_LIMIT "0": expected an integer from 1 to/);
  assert.equal((await readRevealPolicy(db)).bulkLimit, 50, "refused settings change nothing");
  const second = await runCli(["migrate"], { env: env({ VAULT_REASON_MIN_CHARS: "12" }) });
  assert.equal(second.code, 0, second.stderr);
  assert.ok(
    second.stdout.startsWith(
      `Nothing to apply: the schema is current (${MIGRATIONS.at(-1)?.name})\n`,
    ),
    second.stdout,
  );
  assert.match(
    second.stdout,
    /needs 12 visible characters; more than 1000 tokens need --bulk \(changed/,
  );
  const third = await runCli(["migrate"], { env: env({ VAULT_REASON_MIN_CHARS: "12" }) });
  assert.equal(third.code, 0, third.stderr);
  assert.doesNotMatch(third.stdout, /changed/);
  const audit = await readAudit(db);
  assert.deepEqual(audit.map((row) => [row.kind, row.detail]), [
    ["policy", "min_reason_chars=8 reason_pattern='^[A-Z]+-[0-9]+' bulk_limit=50"],
    ["policy", "min_reason_chars=12 reason_pattern=none bulk_limit=1000"],
  ]);
});
