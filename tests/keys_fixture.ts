/**
 * Shared by the key lifecycle tests: a migrated database, a keyring pair made by `keys init`
 * with file keys or with keys in the KMS emulator, and the `keys` commands run as a user runs
 * them.
 */
import assert from "node:assert/strict";
import { isRejection, type ParsedMessage } from "../lib/record/parse_message.ts";
import type { Database } from "../lib/store/database.ts";
import { migrate } from "../lib/store/migrate.ts";
import { open, vaultContext } from "../lib/vault/envelope.ts";
import { type Keyring, readKeyring } from "../lib/vault/keyring.ts";
import { canonicalize } from "../lib/vault/token.ts";
import { type CliResult, runCli } from "./cli.ts";
import { KmsEmulator } from "./kms_emulator.ts";
import { TestDatabase } from "./test_database.ts";
import { ingestVault, sealAndWrite } from "./vault_fixture.ts";

/** Where a lifecycle test keeps its keys. */
export type KeyHome = "file" | "AWS KMS";

/** Both, for tests that every provider must pass. */
export const KEY_HOMES: readonly KeyHome[] = ["file", "AWS KMS"];

/** A database, a keyring pair in `dir`, and the commands that act on them. */
export interface KeysSetup extends AsyncDisposable {
  readonly db: Database;
  readonly dir: string;
  readonly fullPath: string;
  readonly ingestPath: string;
  readonly kms: KmsEmulator | undefined;
  /** The environment of a command: the database, and KMS when the keys are there. */
  readonly env: Record<string, string>;
  /** Runs `vaultline keys <args>`. */
  keys(args: readonly string[]): Promise<CliResult>;
  /** `keys rotate`, which must succeed; resolves to the new KEK's id. */
  rotate(): Promise<string>;
  /** Loads a keyring file the way the commands do. */
  load(path: string): Promise<Keyring>;
  /** Seals and writes `messages` in one batch with the current ingest keyring. */
  write(messages: readonly ParsedMessage[]): Promise<void>;
}

/** A migrated database and a keyring pair made by `keys init`, its keys in `home`. */
export async function keysSetup(home: KeyHome): Promise<KeysSetup> {
  const database = await TestDatabase.create();
  const db = database.connect();
  await migrate(db);
  const dir = await Deno.makeTempDir();
  const kms = home === "AWS KMS" ? KmsEmulator.start() : undefined;
  const fullPath = `${dir}/full.json`;
  const ingestPath = `${dir}/ingest.json`;
  const env: Record<string, string> = {
    DATABASE_URL: database.url,
    ...(kms
      ? { KMS_ENDPOINT: kms.endpoint, AWS_ACCESS_KEY_ID: "admin", AWS_SECRET_ACCESS_KEY: "x" }
      : {}),
  };
  const kmsOptions = kms && {
    region: "us-east-1",
    endpoint: kms.endpoint,
    credentials: { accessKeyId: "admin", secretAccessKey: "x" },
  };
  const keys = (args: readonly string[]) => runCli(["keys", ...args], { env });
  // KMS keys for a new keyring come from the settings here, and from --kms-kek in `rotate`.
  const init = await runCli(["keys", "init", "--out", fullPath, "--ingest-out", ingestPath], {
    env: {
      ...env,
      ...(kms
        ? {
          VAULT_KMS_KEK: kms.createKey("SYMMETRIC_DEFAULT"),
          VAULT_KMS_TOKEN_KEY: kms.createKey("HMAC_256"),
        }
        : {}),
    },
  });
  assert.equal(init.code, 0, init.stderr);
  const made = JSON.parse(await Deno.readTextFile(fullPath));
  const where = kms ? "aws-kms" : undefined;
  assert.equal(made.tokenKey.provider, where, `the token key is in ${home}`);
  assert.equal(made.keks[0].provider, where, `the KEK is in ${home}`);
  const load = (path: string) => readKeyring(path, { kms: kmsOptions });
  return {
    db,
    dir,
    fullPath,
    ingestPath,
    kms,
    env,
    keys,
    async rotate() {
      const kek = kms ? ["--kms-kek", kms.createKey("SYMMETRIC_DEFAULT")] : [];
      const result = await keys([
        "rotate",
        "--keyring",
        fullPath,
        "--ingest-out",
        ingestPath,
        ...kek,
      ]);
      assert.equal(result.code, 0, result.stderr);
      const id = result.stdout.trim().split("\n").at(-1) ?? "";
      assert.match(id, /^kek_[0-9a-f]{16}$/);
      const newest = JSON.parse(await Deno.readTextFile(fullPath)).keks[0];
      assert.deepEqual([newest.id, newest.provider], [id, kms ? "aws-kms" : undefined]);
      return id;
    },
    load,
    async write(messages) {
      using keyring = await load(ingestPath);
      await db.begin((tx) => sealAndWrite(tx, messages, ingestVault(keyring)));
    },
    async [Symbol.asyncDispose]() {
      await kms?.close();
      await database[Symbol.asyncDispose]();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

/** The data keys in the vault by KEK id. */
export async function dataKeysByKek(db: Database): Promise<Record<string, number>> {
  const rows = await db<{ kekId: string; n: number }[]>`
    SELECT kek_id, count(*)::int AS n FROM vault_data_keys GROUP BY kek_id ORDER BY kek_id`;
  return Object.fromEntries(rows.map((row) => [row.kekId, row.n]));
}

/**
 * Opens every vault entry with the full keyring and checks it holds the original of `messages`:
 * every value written under every KEK is still readable, and tokens still name their values.
 */
export async function assertVaultOpens(
  db: Database,
  full: Keyring,
  messages: readonly ParsedMessage[],
): Promise<void> {
  const rows = await db<
    {
      token: string;
      field: "ip" | "device_id";
      nonce: Uint8Array<ArrayBuffer>;
      ciphertext: Uint8Array<ArrayBuffer>;
      dataKeyId: string;
      kekId: string;
      wrappedKey: Uint8Array<ArrayBuffer>;
    }[]
  >`
    SELECT v.token, v.field, v.nonce, v.ciphertext, v.data_key_id, k.kek_id, k.wrapped_key
    FROM pii_vault v JOIN vault_data_keys k ON k.id = v.data_key_id`;
  const opened = new Map<string, string>();
  for (const row of rows) {
    const kek = full.keks.find((k) => k.id === row.kekId);
    assert.ok(kek, `the keyring holds KEK "${row.kekId}"`);
    const key = await kek.unwrap({ id: row.dataKeyId, wrapped: row.wrappedKey });
    const context = vaultContext(row.token, row.field);
    opened.set(row.token, await open({ id: row.dataKeyId, key }, { context, ...row }));
  }
  const expected = messages.flatMap((m) => isRejection(m) ? [] : [m.login]);
  const originals = new Set([
    ...expected.map((l) => `ip ${canonicalize("ip", l.ip)}`),
    ...expected.map((l) => `device_id ${l.deviceId}`),
  ]);
  const tokensOf = await full.tokenKey.tokenize(
    [...originals].map((entry) => {
      const [field, ...rest] = entry.split(" ");
      return { field: field as "ip" | "device_id", value: rest.join(" ") };
    }),
  );
  assert.equal(opened.size, originals.size, "one vault entry per distinct value");
  for (const [i, entry] of [...originals].entries()) {
    const value = entry.slice(entry.indexOf(" ") + 1);
    assert.equal(
      opened.get(tokensOf[i]!),
      value,
      `the token of a ${entry.split(" ")[0]} opens to it`,
    );
  }
}
