import assert from "node:assert/strict";
import { connectDatabase } from "../lib/store/database.ts";
import { EmbeddedPostgres } from "../lib/sandbox/embedded_postgres.ts";

Deno.test("EmbeddedPostgres keeps concurrent clients' statements and transactions apart", async () => {
  await using server = await EmbeddedPostgres.start();
  const clients = [0, 1, 2].map(() => connectDatabase(server.url, { max: 2 }));
  try {
    await clients[0]!`CREATE TABLE t (client int, n int)`;
    // Unnamed portals of different clients interleave here unless each group runs whole.
    await Promise.all(clients.flatMap((db, client) =>
      Array.from({ length: 60 }, async (_, n) => {
        if (n % 3 === 0) {
          await db.begin(async (tx) => {
            await tx`INSERT INTO t VALUES (${client}, ${n})`;
            const [row] = await tx<{ count: number }[]>`
              SELECT count(*)::int AS count FROM t WHERE client = ${client} AND n = ${n}`;
            assert.equal(row?.count, 1);
          });
        } else {
          const [row] = await db<{ v: number; s: string }[]>`
            SELECT ${n}::int AS v, repeat('x', ${client + n}) AS s`;
          assert.deepEqual({ ...row }, { v: n, s: "x".repeat(client + n) });
        }
      })
    ));
    const [row] = await clients[1]!<{ count: number }[]>`SELECT count(*)::int AS count FROM t`;
    assert.equal(row?.count, 3 * 20);
  } finally {
    await Promise.all(clients.map((db) => db.end()));
  }
});

Deno.test("EmbeddedPostgres rolls back the open transaction of a client that disconnects", async () => {
  await using server = await EmbeddedPostgres.start();
  const a = connectDatabase(server.url, { max: 1 });
  const b = connectDatabase(server.url, { max: 1 });
  try {
    await a`CREATE TABLE t (n int)`;
    const reserved = await a.reserve();
    await reserved`BEGIN`;
    await reserved`INSERT INTO t VALUES (1)`;
    // b waits while a holds the session's transaction, and runs once a goes away.
    const counted = b<{ count: number }[]>`SELECT count(*)::int AS count FROM t`;
    await a.end({ timeout: 0 });
    const [row] = await counted;
    assert.equal(row?.count, 0);
  } finally {
    await b.end();
  }
});
