import assert from "node:assert/strict";
import { isRejection, type ParsedLogin } from "../lib/record/parse_message.ts";
import type { Database } from "../lib/store/database.ts";
import { canonicalize } from "../lib/vault/token.ts";
import { finished, runCli, runDeno, spawnCli } from "./cli.ts";
import { DATABASE_KIND, holdTableLock } from "./test_database.ts";
import { assertVaultOpens, dataKeysByKek, KEY_HOMES, keysSetup } from "./keys_fixture.ts";
import { sampleParsed } from "./vault_fixture.ts";
import { waitFor, within } from "./wait.ts";

/** What rewrap must never change: every token and every sealed value, byte for byte. */
async function vaultSnapshot(db: Database): Promise<unknown> {
  const logins = await db`
    SELECT message_id, masked_ip, masked_device_id FROM user_logins ORDER BY message_id`;
  const vault = await db`
    SELECT token, field, data_key_id, nonce, ciphertext FROM pii_vault ORDER BY token`;
  const quarantine = await db`
    SELECT message_id, data_key_id, nonce, body_ciphertext FROM ingest_quarantine
    ORDER BY message_id`;
  return JSON.stringify(
    [logins, vault, quarantine],
    (_, value) => value instanceof Uint8Array ? value.toHex() : value,
  );
}

for (const home of KEY_HOMES) {
  Deno.test(`keys rotate, rewrap, retire and list over three KEKs: values readable, tokens unchanged (${home}, ${DATABASE_KIND})`, async () => {
    await using setup = await keysSetup(home);
    const parsed = sampleParsed();
    const list = async () => {
      const result = await setup.keys(["list", "--keyring", setup.fullPath]);
      assert.equal(result.code, 0, result.stderr);
      return result.stdout.trim().split("\n").map((line) => JSON.parse(line));
    };
    const [, { id: first }] = await list();
    await setup.write(parsed.slice(0, 30));
    const second = await setup.rotate();
    await setup.write(parsed.slice(30, 60));
    const third = await setup.rotate();
    await setup.write(parsed.slice(60));
    assert.deepEqual(await dataKeysByKek(setup.db), { [first]: 1, [second]: 1, [third]: 1 });
    const listed = await list();
    assert.deepEqual(listed.map(({ id, kind, status }) => ({ id, kind, status })), [
      { id: "token_v1", kind: "token", status: "active" },
      { id: third, kind: "kek", status: "active" },
      { id: second, kind: "kek", status: "decrypt-only" },
      { id: first, kind: "kek", status: "decrypt-only" },
    ]);
    assert.ok(listed.every((key) => !Number.isNaN(Date.parse(key.created))));
    const before = await vaultSnapshot(setup.db);
    // Reveal reads values written under every KEK version, in one go.
    const ips = [0, 30, 60].map((start) => {
      const login = parsed.slice(start).find((m): m is ParsedLogin => !isRejection(m));
      return canonicalize("ip", login!.login.ip);
    });
    {
      using full = await setup.load(setup.fullPath);
      const tokens = await full.tokenKey.tokenize(ips.map((value) => ({ field: "ip", value })));
      const revealed = await runCli(
        [
          "reveal",
          "--keyring",
          setup.fullPath,
          "--reason",
          "every KEK",
          ...tokens.flatMap((t) => ["--token", t]),
        ],
        { env: setup.env },
      );
      assert.equal(revealed.code, 0, revealed.stderr);
      assert.deepEqual(
        revealed.stdout.trim().split("\n").map((line) => JSON.parse(line).value),
        ips,
      );
    }

    const refused = await setup.keys(["retire", "--keyring", setup.fullPath, "--kek", first]);
    assert.equal(refused.code, 2, refused.stderr);
    assert.equal(
      refused.stderr.trim(),
      `vaultline: Cannot retire KEK "${first}": 1 data key still uses it: run "keys rewrap" first`,
    );

    const rewrap = await setup.keys([
      "rewrap",
      "--keyring",
      setup.fullPath,
      "--batch-size",
      "1",
      "--json",
    ]);
    assert.equal(rewrap.code, 0, rewrap.stderr);
    assert.deepEqual(JSON.parse(rewrap.stdout), {
      kek: third,
      rewrapped: 2,
      batches: 2,
      from: { [first]: 1, [second]: 1 },
      alreadyUnder: 1,
    });
    assert.deepEqual(await dataKeysByKek(setup.db), { [third]: 3 });
    assert.equal(await vaultSnapshot(setup.db), before, "no token or sealed value changed");
    // Through the task, as a user types it: its permissions must reach the database and KMS.
    const again = await runDeno(["task", "-q", "keys", "rewrap", "--keyring", setup.fullPath], {
      env: setup.env,
    });
    assert.equal(again.code, 0, again.stderr);
    assert.match(
      again.stdout,
      /^Rewrapped 0 data keys under KEK "kek_\w+" in 0 batches\n {2}already under it {2}3\n$/,
    );

    for (const kek of [first, second]) {
      const retired = await setup.keys(["retire", "--keyring", setup.fullPath, "--kek", kek]);
      assert.equal(retired.code, 0, retired.stderr);
      assert.equal(retired.stdout.trim(), kek);
    }
    const active = await setup.keys(["retire", "--keyring", setup.fullPath, "--kek", third]);
    assert.equal(active.code, 2);
    assert.match(active.stderr, /it is the active KEK, which wraps new data keys: rotate first/);
    assert.deepEqual((await list()).map(({ id, status }) => ({ id, status })), [
      { id: "token_v1", status: "active" },
      { id: third, status: "active" },
      { id: second, status: "retired" },
      { id: first, status: "retired" },
    ]);
    const text = await Deno.readTextFile(setup.fullPath);
    const file = JSON.parse(text);
    assert.deepEqual(Object.keys(file.keks[2]).sort(), ["created", "id", "retired"], "no material");
    const listing = (await setup.keys(["list", "--keyring", setup.fullPath])).stdout;
    const secrets = [
      file.tokenKey.key,
      file.tokenKey.keyId,
      file.keks[0].privateKey?.d,
      file.keks[0].keyId,
    ];
    assert.ok(secrets.some((s) => s !== undefined));
    assert.ok(secrets.every((s) => s === undefined || !listing.includes(s)), "list shows material");

    using full = await setup.load(setup.fullPath);
    await assertVaultOpens(setup.db, full, parsed);
    // The first sample message, written under the first KEK, reveals after it was retired.
    const [ip] = await full.tokenKey.tokenize([{ field: "ip", value: "199.172.111.135" }]);
    const revealed = await runCli(
      ["reveal", "--keyring", setup.fullPath, "--token", ip!, "--reason", "key lifecycle test"],
      { env: setup.env },
    );
    assert.equal(revealed.code, 0, revealed.stderr);
    assert.deepEqual(JSON.parse(revealed.stdout), {
      token: ip,
      field: "ip",
      value: "199.172.111.135",
    });
  });
}

Deno.test(`keys rewrap killed mid-run loses no batch and resumes where it stopped (${DATABASE_KIND})`, async () => {
  await using setup = await keysSetup("file");
  const parsed = sampleParsed();
  // Fifty data keys, one for each batch of two messages.
  for (let i = 0; i < parsed.length; i += 2) await setup.write(parsed.slice(i, i + 2));
  const kek = await setup.rotate();
  const before = await vaultSnapshot(setup.db);
  const rewrapped = async () => (await dataKeysByKek(setup.db))[kek] ?? 0;

  const child = spawnCli(["keys", "rewrap", "--keyring", setup.fullPath, "--batch-size", "1"], {
    env: setup.env,
  });
  const exited = finished(child);
  await waitFor("the first rewrapped batch", async () => await rewrapped() > 0);
  // Freeze the rewrap between two batches, then kill it with its next transaction open.
  const lock = await holdTableLock(setup.db, "vault_data_keys");
  child.kill("SIGKILL");
  assert.equal((await within("the killed rewrap to exit", exited)).code, 137);
  lock.release();
  await within("the lock's transaction to end", lock.ended);
  const done = await rewrapped();
  assert.ok(done > 0 && done < 50, `the kill came after ${done} of 50 data keys`);

  const resumed = await setup.keys(["rewrap", "--keyring", setup.fullPath, "--json"]);
  assert.equal(resumed.code, 0, resumed.stderr);
  const summary = JSON.parse(resumed.stdout);
  assert.equal(summary.rewrapped, 50 - done);
  assert.equal(summary.alreadyUnder, done);
  assert.deepEqual(await dataKeysByKek(setup.db), { [kek]: 50 });
  assert.equal(await vaultSnapshot(setup.db), before, "no token or sealed value changed");
  using full = await setup.load(setup.fullPath);
  await assertVaultOpens(setup.db, full, parsed);
});

Deno.test(`keys rewrap stops at a data key whose KEK the keyring does not hold, naming both (${DATABASE_KIND})`, async () => {
  await using setup = await keysSetup("file");
  const parsed = sampleParsed();
  for (let i = 0; i < 6; i += 2) await setup.write(parsed.slice(i, i + 2));
  const [old] = Object.keys(await dataKeysByKek(setup.db));
  const kek = await setup.rotate();
  // A data key from another keyring, ordered last, so the batches before it go through.
  const foreign = "ffffffff-ffff-4fff-bfff-ffffffffffff";
  await setup.db`
    INSERT INTO vault_data_keys (id, kek_id, wrapped_key)
    VALUES (${foreign}, 'kek_foreign', ${new Uint8Array(105)})`;
  const result = await setup.keys(["rewrap", "--keyring", setup.fullPath, "--batch-size", "2"]);
  assert.equal(result.code, 1);
  assert.match(
    result.stderr,
    new RegExp(
      `vaultline: Cannot rewrap data key "${foreign}": it is wrapped by KEK "kek_foreign", ` +
        "which the keyring does not hold",
    ),
  );
  // Batches of two in id order: the first committed, the second (with the foreign key) rolled back.
  assert.deepEqual(await dataKeysByKek(setup.db), { [kek]: 2, [old!]: 1, kek_foreign: 1 });
});
