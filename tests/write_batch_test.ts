import assert from "node:assert/strict";
import { type ParsedLogin, parseMessage } from "../lib/record/parse_message.ts";
import { migrate } from "../lib/store/migrate.ts";
import { open, quarantineContext } from "../lib/vault/envelope.ts";
import { canonicalize, tokenize } from "../lib/vault/token.ts";
import { countRows, DATABASE_KIND, TestDatabase } from "./test_database.ts";
import { freshKeys, sampleParsed, sealAndWrite } from "./vault_fixture.ts";

/** A migrated test database and an ingest vault with fresh keys. */
async function batchSetup() {
  const database = await TestDatabase.create();
  const db = database.connect();
  await migrate(db);
  const keys = await freshKeys();
  return { ...keys, db, [Symbol.asyncDispose]: () => database[Symbol.asyncDispose]() };
}

Deno.test(`writeBatch() writes the sample queue: 99 rows, 1 quarantined, one vault entry per distinct value (${DATABASE_KIND})`, async () => {
  await using database = await TestDatabase.create();
  const statements: string[] = [];
  const db = database.connect({ debug: (_, query) => statements.push(query) });
  await migrate(db);
  const { vault } = await freshKeys();
  const parsed = sampleParsed();
  statements.length = 0;
  const result = await db.begin((tx) => sealAndWrite(tx, parsed, vault));
  const logins = parsed.filter((p): p is ParsedLogin => "login" in p).map((p) => p.login);
  const distinct = new Set([
    ...logins.map((l) => `ip ${canonicalize("ip", l.ip)}`),
    ...logins.map((l) => `device_id ${l.deviceId}`),
  ]);
  assert.deepEqual(result, {
    inserted: 99,
    quarantined: ["sample-13"],
    duplicates: 0,
    newVaultEntries: distinct.size,
  });
  assert.equal(await countRows(db, "user_logins"), 99);
  assert.equal(await countRows(db, "ingest_quarantine"), 1);
  assert.equal(await countRows(db, "pii_vault"), distinct.size);
  assert.equal(await countRows(db, "vault_data_keys"), 1);
  // One statement per table for the whole batch.
  const inserts = statements.filter((q) => /INSERT INTO/.test(q)).map((q) =>
    /INSERT INTO (\w+)/.exec(q)![1]
  );
  assert.deepEqual(inserts.sort(), [
    "ingest_quarantine",
    "pii_vault",
    "user_logins",
    "vault_data_keys",
  ]);

  const rows = await db`
    SELECT message_id, user_id, device_type, masked_ip, masked_device_id, locale, app_version,
           create_date::text AS create_date
    FROM user_logins WHERE message_id = 'sample-1'`;
  assert.deepEqual({ ...rows[0] }, {
    messageId: "sample-1",
    userId: "424cdd21-063a-43a7-b91b-7ca1a833afae",
    deviceType: "android",
    maskedIp: await tokenize(vault.tokenKey, { field: "ip", value: "199.172.111.135" }),
    maskedDeviceId: await tokenize(vault.tokenKey, { field: "device_id", value: "593-47-5928" }),
    locale: "RU",
    appVersion: 20300,
    createDate: "2026-11-25",
  });
  const [nulls] = await db<
    { n: number }[]
  >`SELECT count(*)::int AS n FROM user_logins WHERE locale IS NULL`;
  assert.equal(nulls!.n, 29);
  const [none] = await db<
    { n: number }[]
  >`SELECT count(*)::int AS n FROM user_logins WHERE locale = 'None'`;
  assert.equal(none!.n, 0);
});

Deno.test(`writeBatch() leaves no original ip or device_id readable anywhere in the database (${DATABASE_KIND})`, async () => {
  await using setup = await batchSetup();
  const { db, vault } = setup;
  const parsed = sampleParsed();
  await db.begin((tx) => sealAndWrite(tx, parsed, vault));
  const originals = parsed.filter((p): p is ParsedLogin => "login" in p)
    .flatMap((p) => [p.login.ip, p.login.deviceId]);
  for (const table of ["user_logins", "pii_vault", "ingest_quarantine", "vault_data_keys"]) {
    // Every column as text (bytea as its raw bytes, decoded leniently) searched for each original.
    const rows = await db.unsafe(`SELECT * FROM ${table}`);
    const dump = rows.map((row) =>
      Object.values(row).map((v) =>
        v instanceof Uint8Array ? new TextDecoder().decode(v) : String(v)
      ).join("|")
    ).join("\n");
    for (const original of originals) {
      assert.ok(!dump.includes(original), `${table} holds an original in the clear`);
    }
    assert.ok(dump.length > 0, `${table} is empty`);
  }
});

Deno.test(`writeBatch() a second time with the same messages adds nothing (${DATABASE_KIND})`, async () => {
  await using setup = await batchSetup();
  const { db, vault } = setup;
  const parsed = sampleParsed();
  await db.begin((tx) => sealAndWrite(tx, parsed, vault));
  const again = await db.begin((tx) => sealAndWrite(tx, parsed, vault));
  assert.deepEqual(again, { inserted: 0, quarantined: [], duplicates: 100, newVaultEntries: 0 });
  assert.equal(await countRows(db, "user_logins"), 99);
  assert.equal(await countRows(db, "ingest_quarantine"), 1);
  // A batch holding one message twice writes it once.
  const first = parsed[0]!;
  const twice = await db.begin((tx) =>
    sealAndWrite(tx, [{ ...first, messageId: "new" }, { ...first, messageId: "new" }], vault)
  );
  assert.deepEqual(twice, { inserted: 1, quarantined: [], duplicates: 1, newVaultEntries: 0 });
});

Deno.test(`writeBatch() writes two messages with identical bodies as two logins (${DATABASE_KIND})`, async () => {
  await using setup = await batchSetup();
  const { db, vault } = setup;
  const body =
    '{"user_id":"u","app_version":"1.2.3","device_type":"ios","ip":"10.0.0.1","locale":null,"device_id":"d-1"}';
  const sentAt = new Date("2026-01-01T00:00:00Z");
  const result = await db.begin((tx) =>
    sealAndWrite(tx, [
      parseMessage({ messageId: "a", body, sentAt }),
      parseMessage({ messageId: "b", body, sentAt }),
    ], vault)
  );
  assert.deepEqual(result, { inserted: 2, quarantined: [], duplicates: 0, newVaultEntries: 2 });
  const rows = await db`SELECT DISTINCT masked_ip, masked_device_id FROM user_logins`;
  assert.equal(rows.length, 1);
});

Deno.test(`writeBatch() quarantines a too-long value with its body sealed, and the rest commit (${DATABASE_KIND})`, async () => {
  await using setup = await batchSetup();
  const { db, full, vault } = setup;
  const sentAt = new Date("2026-01-01T00:00:00Z");
  const long = JSON.stringify({
    user_id: "u".repeat(200),
    app_version: "1.0",
    device_type: "ios",
    ip: "10.0.0.9",
    device_id: "secret-device",
  });
  const good = JSON.stringify({
    user_id: "u",
    app_version: "1.0",
    device_type: "ios",
    ip: "10.0.0.1",
    device_id: "d",
  });
  const result = await db.begin((tx) =>
    sealAndWrite(tx, [
      parseMessage({ messageId: "long", body: long, sentAt }),
      parseMessage({ messageId: "good", body: good, sentAt }),
    ], vault)
  );
  assert.equal(result.inserted, 1);
  assert.deepEqual(result.quarantined, ["long"]);
  const [row] = await db<
    {
      reason: string;
      sentAt: Date;
      nonce: Uint8Array<ArrayBuffer>;
      bodyCiphertext: Uint8Array<ArrayBuffer>;
      dataKeyId: string;
      wrappedKey: Uint8Array<ArrayBuffer>;
    }[]
  >`
    SELECT q.reason, q.sent_at, q.nonce, q.body_ciphertext, q.data_key_id, k.wrapped_key
    FROM ingest_quarantine q JOIN vault_data_keys k ON k.id = q.data_key_id
    WHERE q.message_id = 'long'`;
  assert.equal(row!.reason, "user_id is longer than 128 characters");
  assert.equal(row!.sentAt.toISOString(), sentAt.toISOString());
  const key = await full.keks[0].unwrap({ id: row!.dataKeyId, wrapped: row!.wrappedKey });
  const body = await open({ id: row!.dataKeyId, key }, {
    context: quarantineContext("long"),
    nonce: row!.nonce,
    ciphertext: row!.bodyCiphertext,
  });
  assert.equal(body, long);
});
