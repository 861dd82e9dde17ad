import assert from "node:assert/strict";
import postgres from "postgres";
import type { FailureKind } from "../lib/failure.ts";
import { prepareDatabase } from "../lib/ingest/prepare_database.ts";
import { connectDatabase, type Database } from "../lib/store/database.ts";
import { classifyDatabaseError } from "../lib/store/database_error.ts";
import { FakeClock } from "./fake_clock.ts";
import { TcpProxy } from "./tcp_proxy.ts";
import { countRows, DATABASE_KIND, TestDatabase } from "./test_database.ts";
import { within } from "./wait.ts";

/** A value the failing statements carry: the server's text quotes it, a classification never. */
const VALUE = "device-7f3a9c";

async function failure(statement: Promise<unknown>) {
  try {
    await statement;
  } catch (error) {
    const classified = classifyDatabaseError(error);
    assert.ok(
      !classified.message.includes(VALUE),
      `the server's text leaked: ${classified.message}`,
    );
    return classified;
  }
  throw new Error("the statement did not fail");
}

Deno.test(`classifyDatabaseError() makes a refused row poison, naming its code and field, never its text (${DATABASE_KIND})`, async (t) => {
  await using database = await TestDatabase.create();
  const db = database.connect({ max: 1 });
  await db`
    CREATE TABLE t (a text CONSTRAINT a_is_short CHECK (length(a) < 8), b text NOT NULL, n int)`;
  const cases: [string, (db: Database) => Promise<unknown>, FailureKind, string, string][] = [
    [
      "a check constraint",
      (db) => db`INSERT INTO t VALUES (${VALUE}, 'x')`,
      "poison",
      "23514",
      'database error 23514 (check_violation) on "a_is_short"',
    ],
    [
      "a null in a NOT NULL column",
      (db) => db`INSERT INTO t VALUES ('x', NULL, ${VALUE.length})`,
      "poison",
      "23502",
      'database error 23502 (not_null_violation) on "b"',
    ],
    [
      "text that is no integer",
      (db) => db`INSERT INTO t (a, b, n) VALUES ('x', 'y', ${VALUE}::text::int)`,
      "poison",
      "22P02",
      "database error 22P02 (invalid_text_representation)",
    ],
    [
      "a table that is not there",
      (db) => db`INSERT INTO no_such_table VALUES (${VALUE})`,
      "permanent",
      "42P01",
      "Cannot use DATABASE_URL: the schema does not match what the migrations create " +
      "(SQLSTATE 42P01)",
    ],
  ];
  for (const [name, statement, kind, code, message] of cases) {
    await t.step(name, async () => {
      const error = await failure(statement(db));
      assert.deepEqual([error.kind, error.code, error.message], [kind, code, message]);
    });
  }
});

Deno.test("classifyDatabaseError() makes a refused connection transient, by its system code", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  const db = connectDatabase(`postgres://postgres@127.0.0.1:${port}/postgres`, { max: 1 });
  try {
    const error = await failure(db`SELECT 1`);
    assert.deepEqual([error.kind, error.code], ["transient", "ECONNREFUSED"]);
  } finally {
    await db.end({ timeout: 0 });
  }
});

if (DATABASE_KIND === "Postgres") {
  Deno.test("classifyDatabaseError() makes a refused login and a missing database permanent, a timeout transient (Postgres)", async () => {
    await using database = await TestDatabase.create();
    const url = new URL(database.url);
    const cases: [string, URL, string][] = [
      [
        "a role that does not exist",
        Object.assign(new URL(url), { username: "no_such_role" }),
        "28000",
      ],
      [
        "a database that does not exist",
        Object.assign(new URL(url), { pathname: "/no_such_db" }),
        "3D000",
      ],
    ];
    for (const [name, target, code] of cases) {
      const db = postgres(target.href, { max: 1, onnotice: () => {} });
      try {
        const error = await failure(db`SELECT 1`);
        assert.equal(error.kind, "permanent", name);
        assert.equal(error.code, code, name);
        assert.match(
          error.message,
          /^Cannot use DATABASE_URL: the (server refused|database does not)/,
        );
      } finally {
        await db.end({ timeout: 0 });
      }
    }
    const limited = connectDatabase(database.url, {
      max: 1,
      limits: { statementTimeoutMs: 100, idleInTransactionMs: 60_000 },
    });
    try {
      const error = await failure(limited`SELECT pg_sleep(5), ${VALUE}::text`);
      assert.deepEqual([error.kind, error.code], ["transient", "57014"]);
    } finally {
      await limited.end();
    }
  });
}

Deno.test(`prepareDatabase() retries while the server is away on its clock, then migrates (${DATABASE_KIND})`, async () => {
  await using database = await TestDatabase.create();
  await using proxy = TcpProxy.start(Number(new URL(database.url).port));
  await proxy.cut();
  const url = new URL(database.url);
  url.port = String(proxy.port);
  const db = connectDatabase(url.href, { max: 1 });
  const clock = new FakeClock();
  const retries: string[] = [];
  try {
    const preparing = prepareDatabase(db, {
      clock,
      emit: (e) => e.type === "retry" && retries.push(`${e.stage} ${e.code}`),
    });
    await clock.drive(
      (async () => {
        while (retries.length < 2) await new Promise((resolve) => setTimeout(resolve, 5));
      })(),
    );
    assert.deepEqual(retries, ["migrate ECONNREFUSED", "migrate ECONNREFUSED"]);
    proxy.restore();
    assert.equal(await within("the migration", clock.drive(preparing)), true);
    assert.equal(await countRows(database.connect(), "user_logins"), 0);
  } finally {
    proxy.restore();
    await db.end({ timeout: 0 });
  }
});

Deno.test(`prepareDatabase() gives up at its signal while the server is away (${DATABASE_KIND})`, async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  const db = connectDatabase(`postgres://postgres@127.0.0.1:${port}/postgres`, { max: 1 });
  const stop = new AbortController();
  try {
    const preparing = prepareDatabase(db, {
      signal: stop.signal,
      clock: new FakeClock(),
      emit: () => stop.abort(),
    });
    assert.equal(await within("prepareDatabase to give up", preparing, 5000), false);
  } finally {
    await db.end({ timeout: 0 });
  }
});
