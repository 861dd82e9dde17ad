/**
 * The database roles, each logged in as a user of its own: each can do its job and nothing else.
 * Real Postgres only: embedded PGlite serves one superuser session, with no login roles.
 */
import assert from "node:assert/strict";
import { verifyAuditChain } from "../lib/cli/audit_verify.ts";
import { parseMessage } from "../lib/record/parse_message.ts";
import { EmbeddedSqs } from "../lib/sandbox/embedded_sqs.ts";
import { appendAudit } from "../lib/store/audit.ts";
import { closeDatabase, connectDatabase, type Database } from "../lib/store/database.ts";
import { migrate, MIGRATIONS } from "../lib/store/migrate.ts";
import { fetchReveal, recordReveal } from "../lib/store/reveal.ts";
import { createKeyrings, writeKeyrings } from "../lib/vault/keyring.ts";
import { runCli } from "./cli.ts";
import { governanceSetup, loginMessages, REASON } from "./governance_fixture.ts";
import { DATABASE_KIND, TestDatabase } from "./test_database.ts";
import { ingestVault, sampleBodies, sealAndWrite } from "./vault_fixture.ts";

const TOKEN = `ip1_${"Q".repeat(32)}`;

/** A login user of its own holding `role`, on `database`; dropped when disposed. */
async function loginUser(database: TestDatabase, role: string) {
  const admin = database.connect({ max: 1 });
  const name = `vl_test_${crypto.getRandomValues(new Uint8Array(6)).toHex()}`;
  await admin`CREATE ROLE ${admin(name)} LOGIN`;
  await admin`GRANT ${admin(role)} TO ${admin(name)}`;
  const url = new URL(database.url);
  url.username = name;
  const db = connectDatabase(url.href, { max: 2 });
  return {
    name,
    db,
    env: (extra: Record<string, string> = {}) => ({ DATABASE_URL: url.href, ...extra }),
    async [Symbol.asyncDispose]() {
      await closeDatabase(db);
      await admin`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = ${name}`;
      await admin`REASSIGN OWNED BY ${admin(name)} TO CURRENT_USER`;
      await admin`DROP OWNED BY ${admin(name)}`;
      await admin`DROP ROLE ${admin(name)}`;
    },
  };
}

/** Asserts that each statement is refused for want of a privilege (SQLSTATE 42501). */
async function denied(
  db: Database,
  statements: Record<string, (db: Database) => Promise<unknown>>,
): Promise<void> {
  for (const [name, statement] of Object.entries(statements)) {
    await assert.rejects(statement(db), (error: Error & { code?: string }) => {
      // Our store functions report it as a ConfigError whose cause is the driver's error.
      const code = error.code ?? (error.cause as { code?: string } | undefined)?.code;
      assert.equal(code, "42501", `${name}: ${error.message}`);
      return true;
    }, `${name} was allowed`);
  }
}

/** What no role but the owner may do to the vault, the audit or the policy. */
const OWNER_ONLY: Record<string, (db: Database) => Promise<unknown>> = {
  "read ciphertexts": (db) => db`SELECT ciphertext FROM pii_vault`,
  "read nonces": (db) => db`SELECT nonce FROM pii_vault`,
  "read wrapped data keys": (db) => db`SELECT wrapped_key FROM vault_data_keys`,
  "read quarantined bodies": (db) => db`SELECT body_ciphertext FROM ingest_quarantine`,
  "update a vault entry": (db) => db`UPDATE pii_vault SET field = 'ip'`,
  "delete a vault entry": (db) => db`DELETE FROM pii_vault`,
  "delete a row": (db) => db`DELETE FROM user_logins`,
  "truncate the rows": (db) => db`TRUNCATE user_logins`,
  "write the audit directly": (db) =>
    db`INSERT INTO reveal_audit (reason, tokens, token_count) VALUES ('x', '{}', 0)`,
  "edit the audit": (db) => db`UPDATE reveal_audit SET reason = 'x'`,
  "delete from the audit": (db) => db`DELETE FROM reveal_audit`,
  "change the policy": (db) => db`UPDATE reveal_policy SET min_reason_chars = 1`,
  "set the policy": (db) => db`SELECT vaultline_set_reveal_policy(1, NULL, 1000000)`,
  "append another kind of audit row": (db) =>
    appendAudit(db, { kind: "replay", reason: REASON, osUser: "x" }),
};

if (DATABASE_KIND === "Postgres") {
  Deno.test("vaultline_ingest writes batches and quarantine, again harmlessly, and reads, updates and deletes nothing (Postgres)", async () => {
    await using s = await governanceSetup();
    await using ingest = await loginUser(s.database, "vaultline_ingest");
    const messages = [
      ...loginMessages([{ userId: "erin", ip: "192.0.2.1", deviceId: "E-1234" }], "erin"),
      parseMessage({ messageId: "bad-1", body: "not json", sentAt: new Date() }),
    ];
    const vault = ingestVault(s.ingest);
    const first = await ingest.db.begin((tx) => sealAndWrite(tx, messages, vault));
    assert.deepEqual([first.inserted, first.quarantined, first.newVaultEntries], [1, ["bad-1"], 2]);
    const again = await ingest.db.begin((tx) => sealAndWrite(tx, messages, vault));
    assert.deepEqual([again.inserted, again.quarantined, again.duplicates], [0, [], 2]);
    const [version] = await ingest.db<{ n: number }[]>`
      SELECT max(version)::int AS n FROM vaultline_migrations`;
    assert.equal(version?.n, MIGRATIONS.at(-1)?.version);
    await denied(ingest.db, {
      ...OWNER_ONLY,
      "read the rows": (db) => db`SELECT user_id FROM user_logins`,
      "read the audit": (db) => db`SELECT * FROM reveal_audit`,
      "read the policy": (db) => db`SELECT * FROM reveal_policy`,
      "update a row": (db) => db`UPDATE user_logins SET locale = 'x'`,
      "reveal": (db) => db`SELECT vaultline_reveal(${[TOKEN]}::text[], ${REASON})`,
      "forget": (db) => db`SELECT * FROM vaultline_forget('bob', ${REASON})`,
    });
  });

  Deno.test("run as a vaultline_ingest user drains the queue without CREATE, and says what to run when a migration is pending (Postgres)", async () => {
    await using current = await TestDatabase.create();
    await migrate(current.connect());
    await using pending = await TestDatabase.create();
    const owner = pending.connect();
    await migrate(owner, { through: 1 });
    // As a later release would find it: the version table readable, a migration missing.
    await owner`GRANT SELECT ON vaultline_migrations TO vaultline_ingest`;
    await using ingest = await loginUser(current, "vaultline_ingest");
    await using ingestOfPending = await loginUser(pending, "vaultline_ingest");
    const [create] = await current.connect()<{ may: boolean }[]>`
      SELECT has_schema_privilege(${ingest.name}, current_schema(), 'CREATE') AS may`;
    assert.equal(create?.may, false, "the ingest user may create nothing");

    await using sqs = await EmbeddedSqs.start();
    const queueUrl = sqs.createQueue("login-queue");
    for (const body of sampleBodies()) sqs.sendMessage("login-queue", body);
    const dir = await Deno.makeTempDir();
    try {
      const { ingest: keyring } = await createKeyrings();
      await writeKeyrings([{ path: `${dir}/ingest.json`, file: keyring }]);
      const env = {
        SQS_QUEUE_URL: queueUrl,
        SQS_ENDPOINT: sqs.endpoint,
        VAULT_KEYRING: `${dir}/ingest.json`,
        AWS_ACCESS_KEY_ID: "test",
        AWS_SECRET_ACCESS_KEY: "test",
      };
      const refused = await runCli(["run", "--until-empty"], { env: ingestOfPending.env(env) });
      assert.equal(refused.code, 2, refused.stderr);
      const pending = MIGRATIONS.slice(1).map((m) => `"${m.name}"`).join(", ");
      assert.equal(
        refused.stderr,
        `vaultline: Cannot apply migration ${pending}: permission denied for schema public: run "deno task migrate" as the schema owner\n`,
      );
      assert.equal((await sqs.openQueue("login-queue").depth()).visible, 100, "nothing taken");
      const ran = await runCli(["run", "--until-empty", "--json"], { env: ingest.env(env) });
      assert.equal(ran.code, 0, ran.stderr);
      const summary = JSON.parse(ran.stdout.trim().split("\n").at(-1) ?? "{}");
      assert.deepEqual([summary.inserted, summary.quarantined], [99, 1]);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });

  Deno.test("vaultline_analyst reads user_logins and nothing else (Postgres)", async () => {
    await using s = await governanceSetup();
    await using analyst = await loginUser(s.database, "vaultline_analyst");
    const [rows] = await analyst.db<{ n: number; ips: number }[]>`
      SELECT count(*)::int AS n, count(DISTINCT masked_ip)::int AS ips FROM user_logins`;
    assert.deepEqual({ ...rows }, { n: 4, ips: 3 });
    const revealed = await runCli(["reveal", "--token", TOKEN, "--reason", REASON], {
      env: analyst.env({ VAULT_KEYRING: s.fullPath }),
    });
    assert.equal(revealed.code, 2, revealed.stderr);
    assert.equal(revealed.stdout, "");
    assert.equal(
      revealed.stderr,
      "vaultline: permission denied for function vaultline_reveal: " +
        "revealing needs the vaultline_revealer role\n",
    );
    await denied(analyst.db, {
      ...OWNER_ONLY,
      "read tokens in the vault": (db) => db`SELECT token FROM pii_vault`,
      "read the quarantine": (db) => db`SELECT message_id, reason FROM ingest_quarantine`,
      "read the audit": (db) => db`SELECT * FROM reveal_audit`,
      "insert a row": (db) => db`INSERT INTO user_logins (user_id) VALUES ('x')`,
      "update a row": (db) => db`UPDATE user_logins SET locale = 'x'`,
      "reveal": (db) => db`SELECT vaultline_reveal(${[TOKEN]}::text[], ${REASON})`,
      "reveal a person": (db) => db`SELECT vaultline_reveal_user('bob', ${REASON})`,
      "fetch a reveal": (db) => db`SELECT * FROM vaultline_reveal_entries(1)`,
      "forget": (db) => db`SELECT * FROM vaultline_forget('bob', ${REASON})`,
    });
  });

  Deno.test("vaultline_revealer reveals and forgets only through the functions, recorded as its session user (Postgres)", async () => {
    await using s = await governanceSetup();
    await using revealer = await loginUser(s.database, "vaultline_revealer");
    await using other = await loginUser(s.database, "vaultline_revealer");
    const token = await s.token("ip", "198.51.100.20");
    const revealed = await runCli(["reveal", "--token", token, "--reason", REASON], {
      env: revealer.env({ VAULT_KEYRING: s.fullPath, USER: "anyone" }),
    });
    assert.equal(revealed.code, 0, revealed.stderr);
    assert.equal(JSON.parse(revealed.stdout).value, "198.51.100.20");
    const [row] = await s.audit();
    assert.deepEqual([row?.dbUser, row?.osUser], [revealer.name, "anyone"]);
    await assert.rejects(fetchReveal(other.db, row?.id ?? ""), /no such reveal by "vl_test_/);
    const own = await recordReveal(other.db, {
      subject: { userId: "bob" },
      reason: REASON,
      osUser: "x",
      bulk: false,
      masked: false,
    });
    assert.equal((await fetchReveal(other.db, own)).length, 2);
    const forgotten = await runCli(["forget", "--user-id", "carol", "--reason", REASON], {
      env: revealer.env(),
    });
    assert.equal(forgotten.code, 0, forgotten.stderr);
    await denied(revealer.db, {
      ...OWNER_ONLY,
      "read tokens in the vault": (db) => db`SELECT token FROM pii_vault`,
      "read the rows": (db) => db`SELECT user_id FROM user_logins`,
      "read the audit": (db) => db`SELECT * FROM reveal_audit`,
      "insert a vault entry": (db) =>
        db`INSERT INTO pii_vault (token, field, data_key_id, nonce, ciphertext)
           SELECT token || 'x', field, data_key_id, nonce, ciphertext FROM pii_vault`,
    });
    assert.equal((await verifyAuditChain(s.db)).rows, 3);
  });

  Deno.test("vaultline_auditor lists and verifies the audit and reads nothing else (Postgres)", async () => {
    await using s = await governanceSetup();
    await recordReveal(s.db, {
      subject: { tokens: [TOKEN] },
      reason: REASON,
      osUser: "x",
      bulk: false,
      masked: false,
    });
    await using auditor = await loginUser(s.database, "vaultline_auditor");
    const listed = await runCli(["audit", "list", "--json"], { env: auditor.env() });
    assert.equal(listed.code, 0, listed.stderr);
    assert.deepEqual(JSON.parse(listed.stdout).unknownTokens, [TOKEN]);
    const verified = await runCli(["audit", "verify"], { env: auditor.env() });
    assert.equal(verified.code, 0, verified.stderr);
    assert.match(verified.stdout, /^Audit chain intact: 1 rows/);
    await denied(auditor.db, {
      ...OWNER_ONLY,
      "read the rows": (db) => db`SELECT user_id FROM user_logins`,
      "read tokens in the vault": (db) => db`SELECT token FROM pii_vault`,
      "reveal": (db) => db`SELECT vaultline_reveal(${[TOKEN]}::text[], ${REASON})`,
      "forget": (db) => db`SELECT * FROM vaultline_forget('bob', ${REASON})`,
    });
  });
} else {
  Deno.test({
    name:
      "database roles: ingest, analyst, revealer and auditor each do their job and nothing else (skipped: embedded PGlite has no login roles; runs on Postgres)",
    ignore: true,
    fn: () => {},
  });
}
