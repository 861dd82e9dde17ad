import assert from "node:assert/strict";
import { archive } from "../lib/cli/archive.ts";
import { archiveRestore } from "../lib/cli/archive_restore.ts";
import {
  type ArchiveEvent,
  archiveMonths,
  checkBefore,
  latestBefore,
  restoreMonth,
} from "../lib/archive/archiver.ts";
import { readLoginsParquet } from "../lib/archive/parquet_file.ts";
import { canonicalRow, rowChecksum } from "../lib/archive/row_checksum.ts";
import { monthKey, S3Archive, type S3Location } from "../lib/archive/s3_archive.ts";
import { ConfigError } from "../lib/config_error.ts";
import { EmbeddedSqs, EMULATOR_CREDENTIALS } from "../lib/sandbox/embedded_sqs.ts";
import { type ArchivedLogin, manifestEntry, monthChecksum } from "../lib/store/archive.ts";
import type { Database } from "../lib/store/database.ts";
import { migrate } from "../lib/store/migrate.ts";
import { ensureMonthPartitions, monthPartitions } from "../lib/store/partitions.ts";
import { revealWithAudit } from "../lib/store/reveal.ts";
import { openEntries } from "../lib/vault/open_entries.ts";
import { finished, runCli, spawnCli } from "./cli.ts";
import { HttpProxy } from "./http_proxy.ts";
import { countRows, DATABASE_KIND, TestDatabase } from "./test_database.ts";
import { freshKeys, sampleMessages, sealAndWrite } from "./vault_fixture.ts";
import { parseMessage } from "../lib/record/parse_message.ts";
import { within } from "./wait.ts";

const BUCKET = "analytics-archive";
const TO: S3Location = { bucket: BUCKET, prefix: "vaultline/prod" };
const TO_URL = `s3://${BUCKET}/vaultline/prod`;

/** Rows of three months and one without a date, with values that are hard to carry unchanged. */
const ROWS: readonly ArchivedLogin[] = [
  ...["2025-01-01", "2025-01-15", "2025-01-31", "2025-01-31"].map((date, i) => login(date, i)),
  {
    userId: 'ü "quoted", back\\slash\nnew line \u0001 😀',
    deviceType: null,
    maskedIp: "ip1_tricky",
    maskedDeviceId: null,
    locale: null,
    appVersion: null,
    createDate: "2025-01-20",
    messageId: null,
  },
  // A legacy row without a message id, twice: two logins, both kept.
  { ...login("2025-02-03", 9), messageId: null },
  { ...login("2025-02-03", 9), messageId: null },
  login("2025-02-28", 10),
  login("2025-03-01", 11),
  { ...login("2025-03-02", 12), createDate: null },
];

function login(date: string, i: number): ArchivedLogin {
  return {
    userId: `user-${i}`,
    deviceType: i % 2 ? "ios" : "android",
    maskedIp: `ip1_${i}`,
    maskedDeviceId: `dev1_${i}`,
    locale: i % 3 ? "en" : null,
    appVersion: 20300 + i,
    createDate: date,
    messageId: `message-${i}`,
  };
}

/** The rows of `month` among `rows`, as canonical text, sorted. */
function expected(month: string, rows: readonly ArchivedLogin[] = ROWS): string[] {
  return rows.filter((r) => r.createDate?.startsWith(month)).map(canonicalRow).sort();
}

/** A migrated test database holding `ROWS`, an emulator with the bucket, and an S3 client. */
async function archiveSetup(options: { rows?: readonly ArchivedLogin[] } = {}) {
  const database = await TestDatabase.create();
  const db = database.connect({ max: 3 });
  await migrate(db);
  await insertRows(db, options.rows ?? ROWS);
  const emulator = await EmbeddedSqs.start();
  emulator.createBucket(BUCKET);
  const s3 = new S3Archive({
    region: "us-east-1",
    endpoint: emulator.endpoint,
    credentials: EMULATOR_CREDENTIALS,
  });
  return {
    database,
    db,
    emulator,
    s3,
    /** An S3 client through `proxy`, giving up at the first failure. */
    s3Through: (proxy: HttpProxy) =>
      new S3Archive({
        region: "us-east-1",
        endpoint: proxy.endpoint,
        credentials: EMULATOR_CREDENTIALS,
        maxAttempts: 1,
      }),
    env: (s3Endpoint = emulator.endpoint): Record<string, string> => ({
      DATABASE_URL: database.url,
      S3_ENDPOINT: s3Endpoint,
      AWS_ACCESS_KEY_ID: "test",
      AWS_SECRET_ACCESS_KEY: "test",
      USER: "archivist",
    }),
    async [Symbol.asyncDispose]() {
      s3.close();
      await emulator.close();
      await database[Symbol.asyncDispose]();
    },
  };
}

async function insertRows(db: Database, rows: readonly ArchivedLogin[]): Promise<void> {
  await ensureMonthPartitions(db, ["2025-01", "2025-02", "2025-03"]);
  if (rows.length === 0) return;
  await db`INSERT INTO user_logins ${
    db(
      rows,
      "userId",
      "deviceType",
      "maskedIp",
      "maskedDeviceId",
      "locale",
      "appVersion",
      "createDate",
      "messageId",
    )
  }`;
}

/** The rows of `user_logins` as canonical text, sorted; only `month`'s when given. */
async function rowsInPostgres(db: Database, month?: string): Promise<string[]> {
  const rows = await db<ArchivedLogin[]>`
    SELECT user_id, device_type, masked_ip, masked_device_id, locale, app_version,
           create_date::text AS create_date, message_id
    FROM user_logins
    WHERE ${month === undefined ? db`true` : db`to_char(create_date, 'YYYY-MM') = ${month}`}`;
  return rows.map(canonicalRow).sort();
}

/** The rows of `month`'s object under `TO`, as canonical text, sorted; undefined when absent. */
async function rowsInS3(s3: S3Archive, month: string): Promise<string[] | undefined> {
  if (!(await s3.head(BUCKET, monthKey(TO, month)))) return undefined;
  const dir = await Deno.makeTempDir();
  try {
    await s3.download(BUCKET, monthKey(TO, month), `${dir}/file.parquet`);
    const rows: string[] = [];
    for await (const chunk of readLoginsParquet(`${dir}/file.parquet`)) {
      rows.push(...chunk.map(canonicalRow));
    }
    return rows.sort();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/**
 * Where each row is: every row must be in Postgres or in the object of a month the manifest calls
 * archived, exactly once. Returns the months archived.
 */
async function assertExactlyOnce(
  setup: Awaited<ReturnType<typeof archiveSetup>>,
  rows: readonly ArchivedLogin[] = ROWS,
): Promise<string[]> {
  const archived: string[] = [];
  const found = await rowsInPostgres(setup.db);
  for (const month of ["2025-01", "2025-02", "2025-03"]) {
    if ((await manifestEntry(setup.db, month))?.state !== "archived") continue;
    archived.push(month);
    assert.deepEqual(await rowsInPostgres(setup.db, month), [], `${month} is in both places`);
    found.push(...(await rowsInS3(setup.s3, month)) ?? []);
  }
  assert.deepEqual(found.sort(), rows.map(canonicalRow).sort());
  return archived;
}

Deno.test(`rowChecksum() is the server's checksum of the same rows, hard values included (${DATABASE_KIND})`, async () => {
  await using setup = await archiveSetup();
  for (const month of ["2025-01", "2025-02"]) {
    const rows = ROWS.filter((r) => r.createDate?.startsWith(month));
    assert.deepEqual(await monthChecksum(setup.db, month), rowChecksum(rows));
  }
  // Order-free, yet a doubled row counts.
  const january = ROWS.filter((r) => r.createDate?.startsWith("2025-01"));
  assert.deepEqual(rowChecksum([...january].reverse()), rowChecksum(january));
  assert.notEqual(
    rowChecksum([...january, january[0]!]).checksum,
    rowChecksum(january).checksum,
  );
});

Deno.test(`archiveMonths() moves each month before --before to S3 as Parquet, equal row for row, then drops its partition (${DATABASE_KIND})`, async () => {
  await using setup = await archiveSetup();
  const events: ArchiveEvent[] = [];
  const now = new Date("2025-04-20T00:00:00Z");
  const moved = await archiveMonths(
    { db: setup.db, s3: setup.s3, onEvent: (e) => events.push(e) },
    { before: "2025-03", to: TO, now },
  );
  assert.deepEqual(moved.map((m) => [m.month, m.rows, m.url]), [
    ["2025-01", 5, `${TO_URL}/user_logins/month=2025-01/part-0.parquet`],
    ["2025-02", 3, `${TO_URL}/user_logins/month=2025-02/part-0.parquet`],
  ]);
  assert.deepEqual(await rowsInS3(setup.s3, "2025-01"), expected("2025-01"));
  assert.deepEqual(await rowsInS3(setup.s3, "2025-02"), expected("2025-02"));
  assert.deepEqual(await rowsInPostgres(setup.db, "2025-03"), expected("2025-03"));
  assert.equal(await countRows(setup.db, "user_logins_default"), 1, "the undated row stays");
  const partitions = (await monthPartitions(setup.db)).map((p) => p.month);
  assert.ok(!partitions.includes("2025-01") && !partitions.includes("2025-02"));
  assert.ok(partitions.includes("2025-03"));
  const entry = await manifestEntry(setup.db, "2025-01");
  assert.equal(entry?.state, "archived");
  assert.equal(entry?.rowCount, 5);
  assert.deepEqual(
    events.filter((e) => e.type === "month").map((e) => e.type === "month" && [e.index, e.total]),
    [[1, 2], [2, 2]],
  );
  await assertExactlyOnce(setup);

  // Again: nothing left to move.
  const again = await archiveMonths({ db: setup.db, s3: setup.s3 }, {
    before: "2025-03",
    to: TO,
    now,
  });
  assert.deepEqual(again, []);
  await assertExactlyOnce(setup);
});

Deno.test(`archiveMonths() failing at each S3 request in turn, then run again, ends with every row exactly once (${DATABASE_KIND})`, async (t) => {
  // The requests of a clean run, to fail each one in turn.
  let requests: string[];
  {
    await using setup = await archiveSetup();
    await using proxy = HttpProxy.start(setup.emulator.endpoint);
    using s3 = setup.s3Through(proxy);
    await archiveMonths({ db: setup.db, s3 }, { before: "2025-03", to: TO });
    requests = [...proxy.seen];
  }
  assert.deepEqual(requests.map((r) => r.split(" ")[0]), [
    ...["PUT", "GET", "HEAD"],
    ...["PUT", "GET", "HEAD"],
  ]);
  for (const [i, request] of requests.entries()) {
    await t.step(`failing from request ${i + 1}, ${request}`, async () => {
      await using setup = await archiveSetup();
      {
        await using proxy = HttpProxy.start(
          setup.emulator.endpoint,
          () => proxy.seen.length > i ? new Response("injected", { status: 500 }) : undefined,
        );
        using s3 = setup.s3Through(proxy);
        await assert.rejects(archiveMonths({ db: setup.db, s3 }, { before: "2025-03", to: TO }));
      }
      await assertExactlyOnce(setup);
      await archiveMonths({ db: setup.db, s3: setup.s3 }, { before: "2025-03", to: TO });
      assert.deepEqual(await assertExactlyOnce(setup), ["2025-01", "2025-02"]);
    });
  }
});

Deno.test(`a row changed after its month was uploaded is not lost: the month is exported again (${DATABASE_KIND})`, async () => {
  await using setup = await archiveSetup();
  let changed = false;
  await using proxy = HttpProxy.start(setup.emulator.endpoint, async (request) => {
    // The HEAD right before the drop: the upload is verified and recorded by now.
    if (request.method === "HEAD" && !changed) {
      changed = true;
      await setup.db`UPDATE user_logins SET locale = 'changed' WHERE message_id = 'message-0'`;
    }
    return undefined;
  });
  using s3 = setup.s3Through(proxy);
  await archiveMonths({ db: setup.db, s3 }, { before: "2025-02", to: TO });
  const january = ROWS.map((r) => r.messageId === "message-0" ? { ...r, locale: "changed" } : r);
  assert.deepEqual(await rowsInS3(setup.s3, "2025-01"), expected("2025-01", january));
  assert.equal(proxy.seen.filter((r) => r.startsWith("PUT")).length, 2, "exported once more");
  await assertExactlyOnce(setup, january);
});

Deno.test(`archive killed with SIGKILL between upload and drop, then run again: every row exactly once (${DATABASE_KIND})`, async () => {
  await using setup = await archiveSetup();
  let child: Deno.ChildProcess | undefined;
  {
    let killed = () => {};
    const kill = new Promise<void>((resolve) => (killed = resolve));
    await using proxy = HttpProxy.start(setup.emulator.endpoint, (request) => {
      if (request.method !== "HEAD") return undefined;
      child?.kill("SIGKILL");
      killed();
      return new Response(null, { status: 500 });
    });
    child = spawnCli(["archive", "--before", "2025-03", "--to", TO_URL], {
      env: setup.env(proxy.endpoint),
    });
    const exited = finished(child);
    await within("the archive's first HEAD, after its first upload", Promise.race([kill, exited]));
    const result = await within("the killed archive to exit", exited);
    assert.equal(result.code, 137, result.stderr);
  }
  // Killed with January uploaded and verified, its partition not yet dropped.
  assert.equal((await manifestEntry(setup.db, "2025-01"))?.state, "uploaded");
  assert.deepEqual(await rowsInPostgres(setup.db, "2025-01"), expected("2025-01"));
  assert.deepEqual(await rowsInS3(setup.s3, "2025-01"), expected("2025-01"));

  const result = await runCli(["archive", "--before", "2025-03", "--to", TO_URL, "--json"], {
    env: setup.env(),
  });
  assert.equal(result.code, 0, result.stderr);
  const summary = JSON.parse(result.stdout);
  assert.deepEqual(summary.months.map((m: { month: string; rows: number }) => [m.month, m.rows]), [
    ["2025-01", 5],
    ["2025-02", 3],
  ]);
  assert.deepEqual(await assertExactlyOnce(setup), ["2025-01", "2025-02"]);
});

Deno.test(`restoreMonth() brings an archived month back exactly once and deletes its object (${DATABASE_KIND})`, async () => {
  await using setup = await archiveSetup();
  const parts = { db: setup.db, s3: setup.s3 };
  await archiveMonths(parts, { before: "2025-03", to: TO });
  assert.equal(await restoreMonth(parts, { month: "2025-01", from: TO }), 5);
  assert.deepEqual(await rowsInPostgres(setup.db, "2025-01"), expected("2025-01"));
  assert.equal(await rowsInS3(setup.s3, "2025-01"), undefined, "the object is gone");
  assert.equal((await manifestEntry(setup.db, "2025-01"))?.state, "restored");
  assert.equal(await restoreMonth(parts, { month: "2025-01", from: TO }), 0, "restored twice");
  await assertExactlyOnce(setup);

  await assert.rejects(
    restoreMonth(parts, { month: "2025-03", from: TO }),
    (error: Error) =>
      error instanceof ConfigError && /the archive manifest has no such month/.test(error.message),
  );
  await assert.rejects(
    restoreMonth(parts, { month: "2025-02", from: { bucket: BUCKET, prefix: "elsewhere" } }),
    /Cannot restore "2025-02": it was archived to "s3:\/\/analytics-archive\/vaultline\/prod\//,
  );
  // A restored month archives again like any other.
  await archiveMonths(parts, { before: "2025-03", to: TO });
  assert.deepEqual(await assertExactlyOnce(setup), ["2025-01", "2025-02"]);
});

Deno.test(`archive restore and the archive, as commands, and a second restore adds nothing (${DATABASE_KIND})`, async () => {
  await using setup = await archiveSetup();
  const dry = await runCli(["archive", "--before", "2025-03", "--to", TO_URL, "--dry-run"], {
    env: setup.env(),
  });
  assert.equal(dry.code, 0, dry.stderr);
  assert.match(
    dry.stdout,
    /^Would archive 2 months, 8 rows, to s3:\/\/analytics-archive\/vaultline\/prod\n/,
  );
  assert.match(dry.stdout, /2025-01 +5 rows\n/);
  assert.equal(await rowsInS3(setup.s3, "2025-01"), undefined, "a dry run moved a month");
  assert.equal(await manifestEntry(setup.db, "2025-01"), undefined);

  const moved = await runCli(["archive", "--before", "2025-03", "--to", TO_URL], {
    env: setup.env(),
  });
  assert.equal(moved.code, 0, moved.stderr);
  assert.match(
    moved.stdout,
    /^Archived 2 months, 8 rows, to s3:\/\/analytics-archive\/vaultline\/prod\n/,
  );
  assert.match(
    moved.stderr,
    /Archived 2025-02: 3 rows, [\d.]+ (B|KiB), to s3:\/\/analytics-archive\//,
  );

  const restore = ["archive", "restore", "--month", "2025-02", "--from", TO_URL];
  const first = await runCli(restore, { env: setup.env() });
  assert.equal(first.code, 0, first.stderr);
  assert.match(first.stdout, /^Restored 2025-02: 3 rows into user_logins_2025_02; deleted s3:/);
  const second = await runCli(restore, { env: setup.env() });
  assert.equal(second.code, 0, second.stderr);
  assert.match(second.stdout, /^2025-02 was restored already: nothing added/);
  assert.deepEqual(await rowsInPostgres(setup.db, "2025-02"), expected("2025-02"));
  assert.deepEqual(await assertExactlyOnce(setup), ["2025-01"]);
});

Deno.test(`reveal recovers a token whose rows are archived: the vault is not (${DATABASE_KIND})`, async () => {
  await using setup = await archiveSetup({ rows: [] });
  const { full, vault } = await freshKeys();
  const messages = sampleMessages(new Date("2025-01-10T08:00:00Z")).slice(0, 3).map(parseMessage);
  await setup.db.begin((tx) => sealAndWrite(tx, messages, vault));
  await archiveMonths({ db: setup.db, s3: setup.s3 }, { before: "2025-02", to: TO });
  assert.equal(await countRows(setup.db, "user_logins"), 0);
  const [archived] = await Array.fromAsync(
    (async function* () {
      const dir = await Deno.makeTempDir();
      try {
        await setup.s3.download(BUCKET, monthKey(TO, "2025-01"), `${dir}/f.parquet`);
        for await (const rows of readLoginsParquet(`${dir}/f.parquet`)) yield* rows;
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    })(),
  );
  const token = archived?.maskedIp ?? "";
  assert.ok(token.startsWith("ip1_"), token);
  const result = await revealWithAudit(
    setup.db,
    {
      subject: { tokens: [token] },
      reason: "INC-1: an archived login",
      osUser: "alice",
      bulk: false,
      masked: false,
    },
    { open: (entries) => openEntries(full, entries) },
  );
  assert.deepEqual(
    { ...result, auditId: "" },
    { auditId: "", revealed: [{ token, field: "ip", value: "199.172.111.135" }], unknown: [] },
  );
});

Deno.test(`archive --quarantine-days deletes old quarantine rows, counted and audited; the reveal audit stays (${DATABASE_KIND})`, async () => {
  await using setup = await archiveSetup({ rows: [] });
  const { vault } = await freshKeys();
  // The sample's one malformed message, quarantined three times over, received at three ages.
  const malformed = sampleMessages().map(parseMessage).find((m) => !("login" in m))!;
  for (const [id, days] of [["old-1", 100], ["old-2", 40], ["new", 5]] as const) {
    await setup.db.begin((tx) => sealAndWrite(tx, [{ ...malformed, messageId: id }], vault));
    await setup.db`
      UPDATE ingest_quarantine SET received_at = now() - make_interval(days => ${days})
      WHERE message_id = ${id}`;
  }
  await setup.db`
    INSERT INTO reveal_audit (os_user, reason, tokens, token_count, revealed_at)
    VALUES ('alice', 'an old reveal', '{}', 0, now() - interval '400 days')`;

  const dry = await runCli(["archive", "--quarantine-days", "30", "--dry-run"], {
    env: setup.env(),
  });
  assert.equal(dry.code, 0, dry.stderr);
  assert.match(dry.stdout, /^Would delete 2 ingest_quarantine rows received before \d{4}-/);
  assert.equal(await countRows(setup.db, "ingest_quarantine"), 3);
  assert.equal(await countRows(setup.db, "retention_audit"), 0);

  const purged = await runCli(["archive", "--quarantine-days", "30", "--json"], {
    env: setup.env(),
  });
  assert.equal(purged.code, 0, purged.stderr);
  assert.equal(JSON.parse(purged.stdout).quarantine.rows, 2);
  const left = await setup.db<{ messageId: string }[]>`SELECT message_id FROM ingest_quarantine`;
  assert.deepEqual(left.map((r) => r.messageId), ["new"]);
  const audit = await setup
    .db`SELECT os_user, table_name, deleted, older_than FROM retention_audit`;
  assert.equal(audit.length, 1);
  assert.deepEqual(
    { ...audit[0], olderThan: undefined },
    { osUser: "archivist", tableName: "ingest_quarantine", deleted: "2", olderThan: undefined },
  );
  const age = (Date.now() - (audit[0]!.olderThan as Date).getTime()) / 86_400_000;
  assert.ok(Math.abs(age - 30) < 0.1, `cutoff ${age} days ago`);
  assert.equal(await countRows(setup.db, "reveal_audit"), 1);
});

Deno.test("S3Archive uploads a file larger than its part size in parts, and downloads it whole", async () => {
  await using emulator = await EmbeddedSqs.start();
  emulator.createBucket(BUCKET);
  using s3 = new S3Archive({
    region: "us-east-1",
    endpoint: emulator.endpoint,
    credentials: EMULATOR_CREDENTIALS,
    partSize: 5 * 1024 * 1024,
  });
  const dir = await Deno.makeTempDir();
  try {
    const bytes = new Uint8Array(11 * 1024 * 1024 + 17);
    for (let i = 0; i < bytes.length; i += 65_536) {
      crypto.getRandomValues(bytes.subarray(i, i + 65_536));
    }
    await Deno.writeFile(`${dir}/big`, bytes);
    const uploaded = await s3.upload(BUCKET, "big/part-0", `${dir}/big`);
    assert.match(uploaded.etag, /-3"$/, "three parts");
    assert.equal(uploaded.size, bytes.length);
    assert.deepEqual(await s3.head(BUCKET, "big/part-0"), uploaded);
    await s3.download(BUCKET, "big/part-0", `${dir}/back`);
    assert.deepEqual(await Deno.readFile(`${dir}/back`), bytes);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("archive's options: --before with --to, a month ended 14 days ago, and each refused with one line", async (t) => {
  const env = { DATABASE_URL: "postgres://u@db/app" };
  const parsed = archive.parse([
    "--before",
    "2025-03",
    "--to",
    "s3://b-1/a/b/",
    "--quarantine-days",
    "90",
  ], env);
  assert.deepEqual(parsed.months, { before: "2025-03", to: { bucket: "b-1", prefix: "a/b" } });
  assert.equal(parsed.quarantineDays, 90);
  assert.equal(latestBefore(new Date("2026-11-15T00:00:00Z")), "2026-11");
  assert.equal(latestBefore(new Date("2026-11-14T23:59:59Z")), "2026-10");
  checkBefore("2026-10", new Date("2026-11-14T23:59:59Z"));
  const cases: [string[], RegExp][] = [
    [
      ["--before", "2025-13", "--to", "s3://bucket"],
      /^Invalid --before "2025-13": expected a month as YYYY-MM$/,
    ],
    [["--before", "2025-03"], /^Missing --to: /],
    [["--to", "s3://bucket"], /^Missing --before: /],
    [
      ["--before", "2025-03", "--to", "https://bucket"],
      /^Invalid --to "https:\/\/bucket": expected s3:\/\/BUCKET\/PREFIX/,
    ],
    [[], /^Nothing to do: give --before and --to, or --quarantine-days$/],
    [
      ["--quarantine-days", "0"],
      /^Invalid --quarantine-days "0": expected an integer from 1 to 36500$/,
    ],
  ];
  for (const [args, pattern] of cases) {
    await t.step(args.join(" ") || "(nothing)", () => {
      assert.throws(
        () => archive.parse(args, env),
        (e: Error) =>
          e instanceof ConfigError && pattern.test(e.message) && !e.message.includes("\n"),
      );
    });
  }
  assert.throws(
    () => checkBefore("2026-11", new Date("2026-11-14T23:59:59Z")),
    /^ConfigError: Invalid --before "2026-11": a month can move 14 days after it ends, when SQS can no longer deliver its messages; the latest today is "2026-10"$/,
  );
  assert.throws(
    () => archiveRestore.parse(["--month", "2025-1", "--from", "s3://bucket"], env),
    /^ConfigError: Invalid --month "2025-1": expected a month as YYYY-MM$/,
  );
  assert.deepEqual(
    archiveRestore.parse(["--month", "2025-01", "--from", "s3://bucket/p"], env).from,
    { bucket: "bucket", prefix: "p" },
  );
});
