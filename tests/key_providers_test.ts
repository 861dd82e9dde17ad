/**
 * One suite for every key provider: the file keyring and AWS KMS (the emulator in
 * `kms_emulator.ts`, reached over HTTP through @aws-sdk/client-kms) pass the same tests.
 */
import assert from "node:assert/strict";
import { GenerateMacCommand, KMSClient, VerifyMacCommand } from "@aws-sdk/client-kms";
import { open, seal, vaultContext } from "../lib/vault/envelope.ts";
import type { KekProvider, TokenKeyProvider } from "../lib/vault/key_provider.ts";
import {
  createKeyrings,
  importKeyring,
  importTokenKey,
  type KeyringFile,
  rotateKeyrings,
} from "../lib/vault/keyring.ts";
import { tokenField } from "../lib/vault/token.ts";
import { sealBatch } from "../lib/ingest/seal_batch.ts";
import { KmsEmulator } from "./kms_emulator.ts";
import { ingestVault, sampleParsed } from "./vault_fixture.ts";

const CREDENTIALS = { accessKeyId: "tests", secretAccessKey: "tests" };

/** A token key and two KEKs (the newer first) of one provider, loaded from a keyring file. */
interface Providers extends AsyncDisposable {
  readonly tokenKey: TokenKeyProvider;
  readonly keks: readonly [KekProvider, KekProvider];
}

async function loaded(
  file: KeyringFile,
  close: () => Promise<void>,
  kms?: string,
): Promise<Providers> {
  const keyring = await importKeyring(file, {
    kms: { region: "us-east-1", endpoint: kms, credentials: CREDENTIALS },
  });
  const [newer, older] = keyring.keks;
  assert.ok(older, "the keyring holds two KEKs");
  return {
    tokenKey: keyring.tokenKey,
    keks: [newer, older],
    async [Symbol.asyncDispose]() {
      keyring[Symbol.dispose]();
      await close();
    },
  };
}

const PROVIDERS: readonly [string, () => Promise<Providers>][] = [
  ["file keyring", async () => {
    const { full } = await createKeyrings();
    return await loaded((await rotateKeyrings(full)).full, () => Promise.resolve());
  }],
  ["AWS KMS", async () => {
    const kms = KmsEmulator.start();
    const { full } = await createKeyrings(new Date(), {
      kmsTokenKey: kms.createKey("HMAC_256"),
      kmsKek: kms.createKey("SYMMETRIC_DEFAULT"),
    });
    const rotated = await rotateKeyrings(full, { kmsKek: kms.createKey("SYMMETRIC_DEFAULT") });
    return await loaded(rotated.full, () => kms.close(), kms.endpoint);
  }],
];

for (const [name, setup] of PROVIDERS) {
  Deno.test(`${name}: tokenize() gives equal tokens for equal values, apart by field, with the key version`, async () => {
    await using providers = await setup();
    const { tokenKey } = providers;
    const values = [
      { field: "ip", value: "10.1.2.3" },
      { field: "device_id", value: "10.1.2.3" },
      { field: "ip", value: "::ffff:10.1.2.3" },
      { field: "ip", value: "10.1.2.4" },
      { field: "device_id", value: "x".repeat(5000) },
      { field: "device_id", value: "x".repeat(5001) },
    ] as const;
    const tokens = await tokenKey.tokenize(values);
    assert.equal(tokens.length, values.length);
    assert.deepEqual(await tokenKey.tokenize(values), tokens, "tokens are deterministic");
    assert.equal(tokens[2], tokens[0], "an IPv4-mapped address is its IPv4 address");
    assert.equal(new Set(tokens).size, values.length - 1, "other values, other tokens");
    assert.notEqual(tokens[0]!.split("_")[1], tokens[1]!.split("_")[1], "the field is in the MAC");
    for (const [i, token] of tokens.entries()) {
      assert.match(token, new RegExp(`^(ip|dev)${tokenKey.version}_[\\w-]{32}$`));
      assert.equal(tokenField(token), values[i]!.field);
    }
  });

  Deno.test(`${name}: a new data key seals what only unwrap() under its KEK and id opens`, async () => {
    await using providers = await setup();
    const [kek, other] = providers.keks;
    const dataKey = await kek.newDataKey();
    assert.equal(dataKey.kekId, kek.id);
    const context = vaultContext("ip1_x", "ip");
    const sealed = seal(dataKey, { context, plaintext: "10.1.2.3" });
    assert.equal(dataKey.raw.length, 32);
    const key = await kek.unwrap(dataKey);
    assert.equal(await open({ id: dataKey.id, key }, { context, ...sealed }), "10.1.2.3");
    await assert.rejects(kek.unwrap({ ...dataKey, id: crypto.randomUUID() }), "bound to its id");
    await assert.rejects(other.unwrap(dataKey), "bound to its KEK");
    const flipped = dataKey.wrapped.slice();
    flipped[flipped.length - 3]! ^= 1;
    await assert.rejects(kek.unwrap({ id: dataKey.id, wrapped: flipped }), "authenticated");
    assert.equal(
      (await kek.unwrap(dataKey, { extractable: false })).extractable,
      false,
      "a reveal's data key cannot be exported",
    );
  });

  Deno.test(`${name}: wrap() moves a data key under another KEK; what it sealed opens unchanged`, async () => {
    await using providers = await setup();
    const [newer, older] = providers.keks;
    const dataKey = await older.newDataKey();
    const context = vaultContext("dev1_y", "device_id");
    const sealed = seal(dataKey, { context, plaintext: "593-47-5928" });
    const key = await older.unwrap(dataKey, { extractable: true });
    const rewrapped = await newer.wrap({ id: dataKey.id, key });
    assert.notDeepEqual(rewrapped, dataKey.wrapped);
    const opened = await newer.unwrap({ id: dataKey.id, wrapped: rewrapped });
    assert.equal(
      await open({ id: dataKey.id, key: opened }, { context, ...sealed }),
      "593-47-5928",
    );
    await assert.rejects(older.unwrap({ id: dataKey.id, wrapped: rewrapped }));
  });
}

Deno.test("a data key moves from a file KEK to a KMS KEK and back", async () => {
  await using file = await PROVIDERS[0]![1]();
  await using kms = await PROVIDERS[1]![1]();
  const dataKey = await file.keks[0].newDataKey();
  const context = vaultContext("ip1_z", "ip");
  const sealed = seal(dataKey, { context, plaintext: "2001:db8::1" });
  const toKms = await kms.keks[0].wrap({
    id: dataKey.id,
    key: await file.keks[0].unwrap(dataKey, { extractable: true }),
  });
  const back = await file.keks[1].wrap({
    id: dataKey.id,
    key: await kms.keks[0].unwrap({ id: dataKey.id, wrapped: toKms }, { extractable: true }),
  });
  const key = await file.keks[1].unwrap({ id: dataKey.id, wrapped: back });
  assert.equal(await open({ id: dataKey.id, key }, { context, ...sealed }), "2001:db8::1");
});

Deno.test("file and KMS token keys on the same bytes MAC alike, and their tokens differ by version", async () => {
  await using kms = KmsEmulator.start();
  const raw = Uint8Array.from({ length: 32 }, (_, i) => i);
  const arn = kms.createKey("HMAC_256", raw);
  using keyring = await importKeyring(
    { ...(await createKeyrings()).full, tokenKey: { version: 2, provider: "aws-kms", keyId: arn } },
    { kms: { region: "us-east-1", endpoint: kms.endpoint, credentials: CREDENTIALS } },
  );
  const file = await importTokenKey(raw, 1);
  const value = { field: "ip", value: "199.172.111.135" } as const;
  // The known-answer vector of token_test.ts, computed with Python's hmac module.
  assert.deepEqual(await file.tokenize([value]), ["ip1_YaryXIL5Fi_7Cyun-8PjuUYM75wcNq6l"]);
  assert.deepEqual(await keyring.tokenKey.tokenize([value]), [
    "ip2_YaryXIL5Fi_7Cyun-8PjuUYM75wcNq6l",
  ]);
  // The emulator's MAC is what KMS's VerifyMac accepts, and nothing else.
  const client = new KMSClient({
    region: "us-east-1",
    endpoint: kms.endpoint,
    credentials: CREDENTIALS,
  });
  try {
    const Message = new TextEncoder().encode("ip\u0000199.172.111.135");
    const { Mac } = await client.send(
      new GenerateMacCommand({ KeyId: arn, MacAlgorithm: "HMAC_SHA_256", Message }),
    );
    assert.ok(Mac);
    const verify = (mac: Uint8Array) =>
      client.send(
        new VerifyMacCommand({ KeyId: arn, MacAlgorithm: "HMAC_SHA_256", Message, Mac: mac }),
      );
    assert.equal((await verify(Mac)).MacValid, true);
    const wrong = Mac.slice();
    wrong[0]! ^= 1;
    await assert.rejects(verify(wrong), (error: Error) => error.name === "KMSInvalidMacException");
  } finally {
    client.destroy();
  }
});

Deno.test("a KMS token key calls GenerateMac once per distinct value, and its cache is bounded", async () => {
  await using kms = KmsEmulator.start();
  const arn = kms.createKey("HMAC_256");
  const file = {
    ...(await createKeyrings()).full,
    tokenKey: { version: 3, provider: "aws-kms" as const, keyId: arn },
  };
  const options = { region: "us-east-1", endpoint: kms.endpoint, credentials: CREDENTIALS };
  using keyring = await importKeyring(file, { kms: { ...options, tokenCacheSize: 4 } });
  const batch = ["a", "b", "a", "c", "b", "a"].map((value) => ({
    field: "device_id" as const,
    value,
  }));
  const tokens = await keyring.tokenKey.tokenize(batch);
  assert.equal(kms.count("GenerateMac"), 3, "one call per distinct value in a batch");
  assert.deepEqual(await keyring.tokenKey.tokenize(batch), tokens);
  assert.equal(kms.count("GenerateMac"), 3, "recent values come from the cache");
  const others = ["d", "e", "f", "g"].map((value) => ({ field: "device_id" as const, value }));
  await keyring.tokenKey.tokenize(others);
  assert.equal(kms.count("GenerateMac"), 7);
  assert.deepEqual(await keyring.tokenKey.tokenize(batch), tokens, "evicted values MAC alike");
  assert.equal(kms.count("GenerateMac"), 10, "the cache holds 4 values, so a, b, c were evicted");
});

Deno.test("a KMS KEK lets ingest credentials make data keys but never decrypt them", async () => {
  await using kms = KmsEmulator.start();
  kms.allow("ingest", ["GenerateDataKey", "GenerateMac"]);
  kms.allow("reveal", ["Decrypt"]);
  const { full } = await createKeyrings(new Date(), {
    kmsKek: kms.createKey("SYMMETRIC_DEFAULT"),
    kmsTokenKey: kms.createKey("HMAC_256"),
  });
  const as = (accessKeyId: string) =>
    importKeyring(full, {
      kms: {
        region: "us-east-1",
        endpoint: kms.endpoint,
        credentials: { accessKeyId, secretAccessKey: "x" },
      },
    });
  using ingest = await as("ingest");
  using reveal = await as("reveal");
  const dataKey = await ingest.keks[0].newDataKey();
  await ingest.tokenKey.tokenize([{ field: "ip", value: "10.0.0.1" }]);
  await assert.rejects(ingest.keks[0].unwrap(dataKey), (error: Error) => {
    assert.equal(error.name, "AccessDeniedException");
    return true;
  });
  await reveal.keks[0].unwrap(dataKey);
  await assert.rejects(
    reveal.tokenKey.tokenize([{ field: "ip", value: "10.0.0.2" }]),
    /not authorized/,
  );
});

Deno.test("sealBatch() with a KMS token key makes one GenerateMac per distinct value of a batch", async () => {
  await using kms = KmsEmulator.start();
  const { full } = await createKeyrings(new Date(), {
    kmsKek: kms.createKey("SYMMETRIC_DEFAULT"),
    kmsTokenKey: kms.createKey("HMAC_256"),
  });
  using keyring = await importKeyring(full, {
    kms: { region: "us-east-1", endpoint: kms.endpoint, credentials: CREDENTIALS },
  });
  const parsed = sampleParsed();
  // The sample queue twice: every value repeats, and the second half costs no call at all.
  const sealed = await sealBatch([
    ...parsed,
    ...parsed.map((m) => ({ ...m, messageId: `again-${m.messageId}` })),
  ], ingestVault(keyring));
  assert.equal(kms.count("GenerateMac"), sealed.vault.length);
  assert.equal(kms.count("GenerateDataKey"), 1);
  assert.equal(sealed.logins.length, 198);
  assert.ok(sealed.vault.length <= 198, "396 values, at most 198 of them distinct");
});
