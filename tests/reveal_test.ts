import assert from "node:assert/strict";
import type { ParsedLogin } from "../lib/record/parse_message.ts";
import { migrate } from "../lib/store/migrate.ts";
import { revealWithAudit } from "../lib/store/reveal.ts";
import { createKeyrings, importKeyring, writeKeyrings } from "../lib/vault/keyring.ts";
import { openEntries } from "../lib/vault/open_entries.ts";
import { tokenize } from "../lib/vault/token.ts";
import { type CliResult, runCli, runDeno } from "./cli.ts";
import { countRows, DATABASE_KIND, TestDatabase } from "./test_database.ts";
import { ingestVault, sampleParsed, sealAndWrite } from "./vault_fixture.ts";

/** A migrated database holding the sample queue, and keyring files for it. */
async function revealSetup() {
  const database = await TestDatabase.create();
  const dir = await Deno.makeTempDir();
  const files = await createKeyrings();
  await writeKeyrings([
    { path: `${dir}/full.json`, file: files.full },
    { path: `${dir}/ingest.json`, file: files.ingest },
  ]);
  const full = await importKeyring(files.full);
  const ingest = await importKeyring(files.ingest);
  const db = database.connect();
  await migrate(db);
  const parsed = sampleParsed();
  // Two batches under two data keys, so a test can point an entry at the wrong one.
  await db.begin((tx) => sealAndWrite(tx, parsed.slice(0, 50), ingestVault(ingest)));
  await db.begin((tx) => sealAndWrite(tx, parsed.slice(50), ingestVault(ingest)));
  const ipToken = await tokenize(full.tokenKey, { field: "ip", value: "199.172.111.135" });
  const deviceToken = await tokenize(full.tokenKey, { field: "device_id", value: "593-47-5928" });
  // The last sample message, written in the second batch under the second data key.
  const lastIp = (parsed.at(-1) as ParsedLogin).login.ip;
  const lastIpToken = await tokenize(full.tokenKey, { field: "ip", value: lastIp });
  return {
    db,
    full,
    ipToken,
    deviceToken,
    lastIp,
    lastIpToken,
    fullPath: `${dir}/full.json`,
    ingestPath: `${dir}/ingest.json`,
    env: (keyring?: string): Record<string, string> => ({
      DATABASE_URL: database.url,
      ...(keyring ? { VAULT_KEYRING: keyring } : {}),
    }),
    async [Symbol.asyncDispose]() {
      await database[Symbol.asyncDispose]();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

function refusedSilently(result: CliResult, code: number, pattern: RegExp): void {
  assert.equal(result.code, code, result.stderr);
  assert.equal(result.stdout, "");
  assert.match(result.stderr, pattern);
  assert.equal(result.stderr.trim().split("\n").length, 1, "one line of error");
}

Deno.test(`revealWithAudit() with openEntries() recovers the originals and records the reveal (${DATABASE_KIND})`, async () => {
  await using setup = await revealSetup();
  const result = await revealWithAudit(setup.db, {
    tokens: [setup.ipToken, setup.deviceToken, setup.ipToken],
    reason: "ticket SEC-1",
    osUser: "alice",
  }, (entries) => openEntries(setup.full, entries));
  assert.deepEqual(result, {
    revealed: [
      { token: setup.ipToken, field: "ip", value: "199.172.111.135" },
      { token: setup.deviceToken, field: "device_id", value: "593-47-5928" },
    ],
    unknown: [],
  });
  const audit = await setup
    .db`SELECT db_user, os_user, reason, tokens, token_count, revealed_at FROM reveal_audit`;
  const [session] = await setup.db<{ user: string }[]>`SELECT session_user AS user`;
  assert.equal(audit.length, 1);
  assert.equal(audit[0]!.dbUser, session!.user);
  assert.equal(audit[0]!.osUser, "alice");
  assert.equal(audit[0]!.reason, "ticket SEC-1");
  assert.deepEqual(audit[0]!.tokens, [setup.ipToken, setup.deviceToken]);
  assert.equal(audit[0]!.tokenCount, 2);
  assert.ok(Math.abs(Date.now() - (audit[0]!.revealedAt as Date).getTime()) < 60_000);
});

Deno.test(`reveal prints one JSON line per token and reports unknown ones on stderr (${DATABASE_KIND})`, async () => {
  await using setup = await revealSetup();
  const unknown = "ip1_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
  const result = await runCli(
    [
      "reveal",
      "--token",
      setup.ipToken,
      "--token",
      unknown,
      "--token",
      setup.lastIpToken,
      "--reason",
      "incident 42",
    ],
    { env: { ...setup.env(setup.fullPath), USER: "bob" } },
  );
  assert.equal(result.code, 1, "an unknown token makes the exit code 1");
  assert.deepEqual(result.stdout.trim().split("\n").map((line) => JSON.parse(line)), [
    { token: setup.ipToken, field: "ip", value: "199.172.111.135" },
    { token: setup.lastIpToken, field: "ip", value: setup.lastIp },
  ]);
  assert.equal(result.stderr.trim(), `vaultline: unknown token "${unknown}"`);
  const [audit] = await setup.db`SELECT os_user, reason, token_count FROM reveal_audit`;
  assert.deepEqual({ ...audit }, { osUser: "bob", reason: "incident 42", tokenCount: 2 });
});

Deno.test(`deno task reveal forwards its arguments as typed (${DATABASE_KIND})`, async () => {
  await using setup = await revealSetup();
  const result = await runDeno(
    ["task", "-q", "reveal", "--token", setup.deviceToken, "--reason", "two words"],
    { env: setup.env(setup.fullPath) },
  );
  assert.equal(result.code, 0, result.stderr);
  assert.deepEqual(JSON.parse(result.stdout), {
    token: setup.deviceToken,
    field: "device_id",
    value: "593-47-5928",
  });
  const [audit] = await setup.db`SELECT reason FROM reveal_audit`;
  assert.equal(audit!.reason, "two words");
});

Deno.test(`reveal refuses without a reason, without a keyring, and with an ingest keyring (${DATABASE_KIND})`, async (t) => {
  await using setup = await revealSetup();
  await t.step("no --reason", async () => {
    const result = await runCli(["reveal", "--token", setup.ipToken], {
      env: setup.env(setup.fullPath),
    });
    refusedSilently(result, 2, /--reason/);
  });
  await t.step("a blank --reason", async () => {
    const result = await runCli(["reveal", "--token", setup.ipToken, "--reason", "  "], {
      env: setup.env(setup.fullPath),
    });
    refusedSilently(result, 2, /--reason/);
  });
  await t.step("no keyring", async () => {
    const result = await runCli(["reveal", "--token", setup.ipToken, "--reason", "r"], {
      env: setup.env(),
    });
    refusedSilently(result, 2, /VAULT_KEYRING/);
  });
  await t.step("a keyring file that does not exist", async () => {
    const result = await runCli([
      "reveal",
      "--token",
      setup.ipToken,
      "--reason",
      "r",
      "--keyring",
      "/nonexistent/k.json",
    ], { env: setup.env() });
    refusedSilently(result, 2, /Cannot read keyring "\/nonexistent\/k\.json": file not found/);
  });
  await t.step("an ingest keyring", async () => {
    const result = await runCli(["reveal", "--token", setup.ipToken, "--reason", "r"], {
      env: setup.env(setup.ingestPath),
    });
    refusedSilently(result, 2, /ingest keyring/);
  });
  assert.equal(await countRows(setup.db, "reveal_audit"), 0);
});

Deno.test(`reveal refuses altered vault entries, printing nothing and recording nothing (${DATABASE_KIND})`, async (t) => {
  const cases: [string, (setup: Awaited<ReturnType<typeof revealSetup>>) => Promise<unknown>][] = [
    [
      "a flipped ciphertext bit",
      (s) =>
        s.db`UPDATE pii_vault SET ciphertext = set_byte(ciphertext, 3, get_byte(ciphertext, 3) # 1)
           WHERE token = ${s.ipToken}`,
    ],
    [
      "ciphertexts swapped between two rows",
      (s) =>
        s.db`UPDATE pii_vault v SET ciphertext = o.ciphertext, nonce = o.nonce
           FROM pii_vault o
           WHERE (v.token, o.token) IN ((${s.ipToken}, ${s.lastIpToken}), (${s.lastIpToken}, ${s.ipToken}))`,
    ],
    [
      "the wrong data key",
      (s) =>
        s.db`UPDATE pii_vault SET data_key_id = (SELECT data_key_id FROM pii_vault WHERE token = ${s.lastIpToken})
           WHERE token = ${s.ipToken}`,
    ],
  ];
  for (const [name, tamper] of cases) {
    await t.step(name, async () => {
      await using setup = await revealSetup();
      const before = await runCli(["reveal", "--token", setup.ipToken, "--reason", "r"], {
        env: setup.env(setup.fullPath),
      });
      assert.equal(before.code, 0, before.stderr);
      await tamper(setup);
      const result = await runCli(
        ["reveal", "--token", setup.deviceToken, "--token", setup.ipToken, "--reason", "r"],
        { env: setup.env(setup.fullPath) },
      );
      refusedSilently(result, 1, new RegExp(`Cannot reveal token "${setup.ipToken}"`));
      assert.equal(
        await countRows(setup.db, "reveal_audit"),
        1,
        "only the reveal before the tampering is recorded",
      );
    });
  }
});
