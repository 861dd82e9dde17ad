import assert from "node:assert/strict";
import { verifyAuditChain } from "../lib/cli/audit_verify.ts";
import { ConfigError } from "../lib/config_error.ts";
import { appendAudit } from "../lib/store/audit.ts";
import type { Queryable } from "../lib/store/database.ts";
import { forgetPerson } from "../lib/store/forget.ts";
import { recordReveal, recordRevealFailure, type RevealRequest } from "../lib/store/reveal.ts";
import { auditContent, auditRowHash, GENESIS_HASH } from "../lib/vault/audit_chain.ts";
import { runCli } from "./cli.ts";
import { type GovernanceSetup, governanceSetup, PEOPLE, REASON } from "./governance_fixture.ts";
import { countRows, DATABASE_KIND } from "./test_database.ts";

function request(tokens: readonly string[], extra: Partial<RevealRequest> = {}): RevealRequest {
  return {
    subject: { tokens },
    reason: REASON,
    osUser: "tester",
    bulk: false,
    masked: false,
    ...extra,
  };
}

/** Five audit rows of five kinds: reveal, masked reveal, failure, erasure, replay. */
async function fiveRows(s: GovernanceSetup): Promise<void> {
  const first = await recordReveal(s.db, request([await s.token("ip", "203.0.113.7")]));
  await recordReveal(s.db, request([await s.token("device_id", "BOB-9")], { masked: true }));
  await recordRevealFailure(s.db, {
    auditId: first,
    detail: 'Cannot reveal token "x": failed authentication',
  });
  await forgetPerson(s.db, { userId: "carol", reason: "GDPR erasure request 17", osUser: "dpo" });
  await appendAudit(s.db, {
    kind: "replay",
    reason: "INC-9: replaying quarantine",
    osUser: "ops",
    detail: "messages: m-1, m-2",
  });
}

class Rollback extends Error {}

/** What verifyAuditChain() says after `tamper` (run with the audit's triggers off), rolled back. */
async function afterTampering(
  s: GovernanceSetup,
  tamper: (tx: Queryable) => Promise<unknown>,
  anchor?: { id: string; hash: string },
): Promise<string> {
  let said = "";
  await s.db.begin(async (tx) => {
    await tx`ALTER TABLE reveal_audit DISABLE TRIGGER USER`;
    await tamper(tx);
    said = await verifyAuditChain(tx, anchor).then(
      ({ rows }) => `intact: ${rows} rows`,
      (error: Error) => error.message,
    );
    throw new Rollback();
  }).catch((error) => {
    if (!(error instanceof Rollback)) throw error;
  });
  return said;
}

Deno.test(`the audit chain's hashes are the same in SQL and in TypeScript, for every kind of row (${DATABASE_KIND})`, async () => {
  await using s = await governanceSetup();
  await fiveRows(s);
  const rows = await s.audit();
  assert.deepEqual(rows.map((row) => row.kind), [
    "reveal",
    "reveal",
    "reveal_failed",
    "forget",
    "replay",
  ]);
  assert.deepEqual(rows.map((row) => row.id), ["1", "2", "3", "4", "5"]);
  let previous = GENESIS_HASH;
  for (const row of rows) {
    assert.equal(row.prevHash, previous);
    assert.equal(row.rowHash, await auditRowHash(previous, row), `row #${row.id}`);
    const [sql] = await s.db<{ content: string }[]>`
      SELECT vaultline_audit_content(a) AS content FROM reveal_audit a WHERE id = ${row.id}`;
    assert.equal(auditContent(row), sql?.content);
    previous = row.rowHash;
  }
  assert.deepEqual(await verifyAuditChain(s.db), { rows: 5, head: { id: "5", hash: previous } });
});

Deno.test(`verifyAuditChain() names the first edited, deleted, reordered or inserted row (${DATABASE_KIND})`, async (t) => {
  await using s = await governanceSetup();
  await fiveRows(s);
  const head = { id: "5", hash: (await s.audit()).at(-1)?.rowHash ?? "" };
  const cases: [string, (tx: Queryable) => Promise<unknown>, RegExp][] = [
    [
      "an edited reason",
      (tx) => tx`UPDATE reveal_audit SET reason = 'routine check' WHERE id = 2`,
      /row #2 does not match its hash: it was edited or moved/,
    ],
    [
      "an edited session user",
      (tx) => tx`UPDATE reveal_audit SET db_user = 'someone_else' WHERE id = 3`,
      /row #3 does not match its hash/,
    ],
    [
      "an edited token list",
      (tx) => tx`UPDATE reveal_audit SET tokens = '{}', token_count = 0 WHERE id = 1`,
      /row #1 does not match its hash/,
    ],
    [
      "a deleted row",
      (tx) => tx`DELETE FROM reveal_audit WHERE id = 2`,
      /row #3 does not follow row #1: a row between them was deleted/,
    ],
    [
      "the first row deleted",
      (tx) => tx`DELETE FROM reveal_audit WHERE id = 1`,
      /row #2 does not start the chain: a row before it was deleted/,
    ],
    [
      "two rows swapped",
      async (tx) => {
        await tx`UPDATE reveal_audit SET id = -id WHERE id IN (2, 3)`;
        await tx`UPDATE reveal_audit SET id = CASE id WHEN -2 THEN 3 ELSE 2 END WHERE id < 0`;
      },
      /row #2 does not follow row #1/,
    ],
    [
      "a well-formed row inserted in the middle",
      async (tx) => {
        await tx`UPDATE reveal_audit SET id = -id WHERE id >= 3`;
        await tx`UPDATE reveal_audit SET id = 1 - id WHERE id < 0`;
        await tx`
          INSERT INTO reveal_audit (id, revealed_at, db_user, os_user, reason, tokens, token_count,
                                    prev_hash, row_hash)
          SELECT 3, now(), 'postgres', 'ghost', 'INC-1: nothing to see', '{}', 0, p.row_hash, ''
          FROM reveal_audit p WHERE p.id = 2`;
        await tx`UPDATE reveal_audit a SET row_hash = vaultline_audit_hash(a.prev_hash, a)
                 WHERE id = 3`;
      },
      /row #4 does not follow row #3/,
    ],
  ];
  for (const [name, tamper, pattern] of cases) {
    await t.step(name, async () => {
      assert.match(await afterTampering(s, tamper), pattern);
    });
  }
  await t.step("a rebuilt chain passes, but not its anchor", async () => {
    const rebuild = async (tx: Queryable) => {
      await tx`UPDATE reveal_audit SET reason = 'routine check' WHERE id = 2`;
      await tx.unsafe(`
        DO $$
        DECLARE r reveal_audit; prev text := repeat('0', 64);
        BEGIN
          FOR r IN SELECT * FROM reveal_audit ORDER BY id LOOP
            UPDATE reveal_audit SET prev_hash = prev, row_hash = vaultline_audit_hash(prev, r)
            WHERE id = r.id RETURNING row_hash INTO prev;
          END LOOP;
        END $$`);
    };
    assert.equal(await afterTampering(s, rebuild), "intact: 5 rows");
    assert.match(
      await afterTampering(s, rebuild, head),
      /row #5 no longer carries the anchored hash: the chain was rebuilt/,
    );
  });
  await t.step("a deleted last row passes, but not its anchor", async () => {
    const dropLast = (tx: Queryable) => tx`DELETE FROM reveal_audit WHERE id = 5`;
    assert.equal(await afterTampering(s, dropLast), "intact: 4 rows");
    assert.match(await afterTampering(s, dropLast, head), /anchored row #5 is gone/);
  });
  assert.equal((await verifyAuditChain(s.db, head)).rows, 5, "every tampering was rolled back");
});

Deno.test(`reveal_audit is append-only for every user, the owner too, and an insert cannot choose its place (${DATABASE_KIND})`, async () => {
  await using s = await governanceSetup();
  await fiveRows(s);
  for (
    const statement of [
      s.db`UPDATE reveal_audit SET reason = 'x' WHERE id = 1`,
      s.db`DELETE FROM reveal_audit WHERE id = 5`,
      s.db`TRUNCATE reveal_audit`,
    ]
  ) {
    await assert.rejects(
      statement,
      /Cannot (update|delete|truncate) reveal_audit: it is append-only/,
    );
  }
  await s.db`
    INSERT INTO reveal_audit (id, revealed_at, db_user, os_user, reason, tokens, token_count,
                              prev_hash, row_hash)
    VALUES (3, '2001-01-01', 'someone_else', 'ghost', 'INC-2: backdated', '{}', 0, 'x', 'y')`;
  const rows = await s.audit();
  const [session] = await s.db<{ user: string }[]>`SELECT session_user AS user`;
  const last = rows.at(-1);
  assert.deepEqual([last?.id, last?.dbUser, last?.osUser], ["6", session?.user, "ghost"]);
  assert.ok(Date.parse(last?.at ?? "") > Date.now() - 60_000, last?.at);
  assert.equal((await verifyAuditChain(s.db)).rows, 6);
});

Deno.test(`appends from concurrent sessions form one chain, and a snapshot transaction may not append (${DATABASE_KIND})`, async () => {
  await using s = await governanceSetup();
  const pool = s.database.connect({ max: 4 });
  const token = await s.token("ip", "198.51.100.20");
  const ids = await Promise.all(
    Array.from({ length: 12 }, (_, i) => recordReveal(pool, request([token], { osUser: `u${i}` }))),
  );
  assert.deepEqual(
    ids.map(Number).sort((a, b) => a - b),
    Array.from({ length: 12 }, (_, i) => i + 1),
  );
  assert.equal((await verifyAuditChain(s.db)).rows, 12);
  await assert.rejects(
    s.db.begin("isolation level repeatable read", (tx) => recordReveal(tx, request([token]))),
    (error: Error) =>
      error instanceof ConfigError && /the chain needs read committed/.test(error.message),
  );
  assert.equal(await countRows(s.db, "reveal_audit"), 12);
});

Deno.test(`audit verify exits 0 with the head, and 1 naming the first bad row (${DATABASE_KIND})`, async () => {
  await using s = await governanceSetup();
  await fiveRows(s);
  const intact = await runCli(["audit", "verify"], { env: s.env() });
  assert.equal(intact.code, 0, intact.stderr);
  const head = /head #(5:[0-9a-f]{64})$/.exec(intact.stdout.trim())?.[1];
  assert.ok(head, intact.stdout);
  assert.equal(intact.stdout.trim(), `Audit chain intact: 5 rows, head #${head}`);
  const anchored = await runCli(["audit", "verify", "--anchor", head], { env: s.env() });
  assert.equal(anchored.code, 0, anchored.stderr);
  assert.match(anchored.stdout, /; anchor #5 holds$/m);
  await s.db.begin(async (tx) => {
    await tx`ALTER TABLE reveal_audit DISABLE TRIGGER USER`;
    await tx`UPDATE reveal_audit SET os_user = 'nobody' WHERE id = 4`;
    await tx`ALTER TABLE reveal_audit ENABLE TRIGGER USER`;
  });
  const broken = await runCli(["audit", "verify"], { env: s.env() });
  assert.equal(broken.code, 1);
  assert.equal(broken.stdout, "");
  assert.equal(
    broken.stderr,
    "vaultline: The audit chain is broken: row #4 does not match its hash: it was edited or moved\n",
  );
});

Deno.test(`audit list shows who did what and why, tokens and counts, never values (${DATABASE_KIND})`, async () => {
  await using s = await governanceSetup();
  await fiveRows(s);
  const values = PEOPLE.flatMap((person) => [person.ip, person.deviceId]);
  const json = await runCli(["audit", "list", "--json"], { env: s.env() });
  assert.equal(json.code, 0, json.stderr);
  const rows = json.stdout.trim().split("\n").map((line) => JSON.parse(line));
  const [session] = await s.db<{ user: string }[]>`SELECT session_user AS user`;
  assert.deepEqual(rows.map((row) => [row.id, row.kind, row.dbUser, row.osUser, row.tokenCount]), [
    ["1", "reveal", session?.user, "tester", 1],
    ["2", "reveal", session?.user, "tester", 1],
    ["3", "reveal_failed", session?.user, "tester", 0],
    ["4", "forget", session?.user, "dpo", 0],
    ["5", "replay", session?.user, "ops", 0],
  ]);
  assert.deepEqual(rows[0].tokens, [await s.token("ip", "203.0.113.7")]);
  assert.equal(rows[1].masked, true);
  assert.equal(rows[2].refId, "1");
  assert.equal(rows[3].userId, "carol");
  assert.equal(
    rows[3].detail,
    "1 rows tombstoned, 2 vault entries deleted, 0 kept for other people",
  );
  const text = await runCli(["audit", "list"], { env: s.env() });
  assert.equal(text.code, 0, text.stderr);
  const lines = text.stdout.trim().split("\n");
  assert.equal(lines.length, 5);
  assert.match(
    lines[0] ?? "",
    new RegExp(
      `^#1 \\S+Z reveal by ${session?.user} \\(OS user tester\\) 1 tokens \\(ip1_\\S+\\) reason "${REASON}"$`,
    ),
  );
  assert.match(lines[1] ?? "", / masked reason /);
  assert.match(
    lines[3] ?? "",
    /^#4 \S+ forget by \S+ \(OS user dpo\) user "carol" : 1 rows tombstoned/,
  );
  for (const output of [json.stdout, text.stdout]) {
    for (const value of values) assert.ok(!output.includes(value), `${value} was printed`);
  }
  const tomorrow = new Date(Date.now() + 86_400_000).toISOString().slice(0, 10);
  const none = await runCli(["audit", "list", "--since", tomorrow], { env: s.env() });
  assert.equal(none.code, 0, none.stderr);
  assert.equal(none.stdout, "");
  assert.equal(none.stderr, "vaultline: no audit rows\n");
  const firstDay = String(rows[0].at).slice(0, 10);
  const all = await runCli(["audit", "list", "--since", firstDay, "--json"], { env: s.env() });
  assert.equal(all.stdout.trim().split("\n").length, 5);
});
