import assert from "node:assert/strict";
import { verifyAuditChain } from "../lib/cli/audit_verify.ts";
import { forgetPerson } from "../lib/store/forget.ts";
import { revealWithAudit } from "../lib/store/reveal.ts";
import { openEntries } from "../lib/vault/open_entries.ts";
import { runCli } from "./cli.ts";
import {
  type GovernanceSetup,
  governanceSetup,
  loginMessages,
  REASON,
} from "./governance_fixture.ts";
import { countRows, DATABASE_KIND } from "./test_database.ts";
import { ingestVault, sealAndWrite } from "./vault_fixture.ts";
import { waitFor, within } from "./wait.ts";

/** The originals a reveal by person recovers now, sorted. */
async function revealPerson(s: GovernanceSetup, userId: string): Promise<string[]> {
  const result = await revealWithAudit(s.db, {
    subject: { userId },
    reason: REASON,
    osUser: "tester",
    bulk: false,
    masked: false,
  }, { open: (entries) => openEntries(s.full, entries) });
  assert.deepEqual(result.unknown, [], `${userId} has tokens without vault entries`);
  return result.revealed.map((entry) => entry.value).sort();
}

async function rowsOf(s: GovernanceSetup, userId: string) {
  return await s.db<{ maskedIp: string; maskedDeviceId: string; deviceType: string }[]>`
    SELECT masked_ip, masked_device_id, device_type FROM user_logins WHERE user_id = ${userId}`;
}

Deno.test(`forget makes one person's originals unrecoverable and leaves other people intact (${DATABASE_KIND})`, async () => {
  await using s = await governanceSetup();
  const bobBefore = await rowsOf(s, "bob");
  const carolBefore = await rowsOf(s, "carol");
  const result = await runCli(
    ["forget", "--user-id", "alice", "--reason", "GDPR erasure request 17", "--json"],
    { env: s.env({ USER: "dpo" }) },
  );
  assert.equal(result.code, 0, result.stderr);
  // Alice's IPv6 address and device were hers alone; her IPv4 address is Bob's too.
  assert.deepEqual(JSON.parse(result.stdout), {
    userId: "alice",
    auditId: "1",
    rowsForgotten: 2,
    entriesDeleted: 2,
    entriesKept: 1,
  });

  const alice = await rowsOf(s, "alice");
  assert.equal(alice.length, 2, "her rows stay for the counts");
  const tombstones = alice.flatMap((row) => [row.maskedIp, row.maskedDeviceId]);
  assert.ok(tombstones.every((t) => /^forgotten_[0-9a-f]{32}$/.test(t)), tombstones.join());
  assert.equal(new Set(tombstones).size, 4, "each tombstone is unique: none joins another");
  const [joins] = await s.db<{ n: number }[]>`
    SELECT count(*)::int AS n FROM user_logins l, pii_vault v
    WHERE l.user_id = 'alice' AND v.token IN (l.masked_ip, l.masked_device_id)`;
  assert.equal(joins?.n, 0, "no tombstone joins a vault entry");
  for (
    const [field, value] of [
      ["ip", "2001:db8:abcd:12::1"],
      ["device_id", "AAAA-1111-2222"],
    ] as const
  ) {
    const [row] = await s.db<{ n: number }[]>`
      SELECT count(*)::int AS n FROM pii_vault WHERE token = ${await s.token(field, value)}`;
    assert.equal(row?.n, 0, `${field} ${value} is still in the vault`);
  }

  assert.deepEqual(await revealPerson(s, "alice"), [], "a reveal for her returns nothing");
  assert.deepEqual(await rowsOf(s, "bob"), bobBefore);
  assert.deepEqual(await rowsOf(s, "carol"), carolBefore);
  assert.deepEqual(await revealPerson(s, "bob"), ["203.0.113.7", "BOB-9"]);
  assert.deepEqual(await revealPerson(s, "carol"), ["198.51.100.20", "C-77"]);
  assert.equal(await countRows(s.db, "user_logins"), 4);
  assert.equal(await countRows(s.db, "pii_vault"), 4, "six entries, two deleted");

  const [erasure] = await s.audit();
  assert.deepEqual(
    [erasure?.kind, erasure?.userId, erasure?.osUser, erasure?.reason, erasure?.tokens],
    ["forget", "alice", "dpo", "GDPR erasure request 17", []],
  );
  assert.equal(
    erasure?.detail,
    "2 rows tombstoned, 2 vault entries deleted, 1 kept for other people",
  );
  assert.equal((await verifyAuditChain(s.db)).rows, 4, "the erasure and the three reveals");

  const again = await runCli([
    "forget",
    "--user-id",
    "alice",
    "--reason",
    "GDPR erasure request 17",
  ], {
    env: s.env(),
  });
  assert.equal(again.code, 0, again.stderr);
  assert.match(
    again.stdout,
    /^Forgot user "alice" \(audit row #5\): 2 rows now hold tombstones, 0 vault entries deleted, 0 kept/,
  );
});

Deno.test(`forget refuses a reason the policy does not accept, changing and recording nothing (${DATABASE_KIND})`, async () => {
  await using s = await governanceSetup();
  const before = await rowsOf(s, "carol");
  const result = await runCli(["forget", "--user-id", "carol", "--reason", "gdpr"], {
    env: s.env(),
  });
  assert.equal(result.code, 2);
  assert.equal(result.stdout, "");
  assert.equal(
    result.stderr,
    "vaultline: Invalid reason: the policy wants at least 8 visible characters\n",
  );
  assert.deepEqual(await rowsOf(s, "carol"), before);
  assert.equal(await countRows(s.db, "pii_vault"), 6);
  assert.equal(await countRows(s.db, "reveal_audit"), 0);
});

Deno.test(`forget waits for an ingest batch in flight, and keeps an entry that batch gives another person (${DATABASE_KIND})`, async () => {
  await using s = await governanceSetup();
  const ingest = s.database.connect({ max: 1 });
  const eraser = s.database.connect({ max: 1 });
  let release = () => {};
  const released = new Promise<void>((resolve) => (release = resolve));
  let wrote = () => {};
  const written = new Promise<void>((resolve) => (wrote = resolve));
  // Dave logs in on Carol's device; his batch has written but not committed when she is forgotten.
  const batch = ingest.begin(async (tx) => {
    await sealAndWrite(
      tx,
      loginMessages([{ userId: "dave", ip: "192.0.2.44", deviceId: "C-77" }], "dave"),
      ingestVault(s.ingest),
    );
    wrote();
    await released;
  });
  await within("the batch to write", written);
  const forgetting = forgetPerson(eraser, { userId: "carol", reason: REASON, osUser: "dpo" });
  if (DATABASE_KIND === "Postgres") {
    await waitFor("the erasure to wait for the batch's lock on pii_vault", async () => {
      const [row] = await s.db<{ n: number }[]>`
        SELECT count(*)::int AS n FROM pg_locks
        WHERE relation = 'pii_vault'::regclass AND mode = 'ShareRowExclusiveLock' AND NOT granted`;
      return row?.n === 1;
    });
  }
  release();
  await within("the batch to commit", batch);
  const result = await within("the erasure to finish", forgetting);
  assert.deepEqual(
    { ...result, auditId: undefined },
    { auditId: undefined, rowsForgotten: 1, entriesDeleted: 1, entriesKept: 1 },
  );
  assert.deepEqual(await revealPerson(s, "dave"), ["192.0.2.44", "C-77"]);
  assert.deepEqual(await revealPerson(s, "carol"), []);
});
