import assert from "node:assert/strict";
import {
  createKeyrings,
  importKeyring,
  KeyringError,
  type KeyringFile,
  listKeys,
  readKeyring,
  readKeyringFile,
  rotateKeyrings,
  writeKeyrings,
} from "../lib/vault/keyring.ts";

Deno.test("writeKeyrings() and readKeyring() keep a full and an ingest keyring, mode 0600", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const { full, ingest } = await createKeyrings();
    await writeKeyrings([
      { path: `${dir}/full.json`, file: full },
      { path: `${dir}/ingest.json`, file: ingest },
    ]);
    for (const name of ["full.json", "ingest.json"]) {
      assert.equal((await Deno.stat(`${dir}/${name}`)).mode! & 0o777, 0o600);
    }
    const ingestText = await Deno.readTextFile(`${dir}/ingest.json`);
    assert.ok(!ingestText.includes('"d"'), "the ingest keyring must not hold the private scalar");
    using readFull = await readKeyring(`${dir}/full.json`);
    using readIngest = await readKeyring(`${dir}/ingest.json`);
    assert.equal(readFull.kind, "full");
    assert.equal(readIngest.kind, "ingest");
    assert.equal(readFull.keks[0].id, readIngest.keks[0].id);
    assert.equal(readFull.tokenKey.version, 1);
    // What the ingest keyring wraps, only the full keyring unwraps.
    const dataKey = await readIngest.keks[0].newDataKey();
    await readFull.keks[0].unwrap(dataKey);
    await assert.rejects(readIngest.keks[0].unwrap(dataKey), /has no private key/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("writeKeyrings() refuses to overwrite a file", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/k.json`, "keep me");
    const { full } = await createKeyrings();
    await assert.rejects(writeKeyrings([{ path: `${dir}/k.json`, file: full }]), (error: Error) => {
      assert.ok(error instanceof KeyringError);
      assert.match(error.message, /^Cannot write keyring ".*k\.json": file exists/);
      return true;
    });
    assert.equal(await Deno.readTextFile(`${dir}/k.json`), "keep me");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("readKeyring() names the file and the problem", async (t) => {
  const dir = await Deno.makeTempDir();
  try {
    const { full, ingest } = await createKeyrings();
    const other = await createKeyrings();
    const kek = ingest.keks[0];
    assert.ok(kek && "publicKey" in kek, "the new keyring's KEK is a file KEK");
    const otherKek = other.full.keks[0];
    assert.ok(otherKek && "privateKey" in otherKek, "the other keyring's KEK is a file KEK");
    const otherPrivateKey = otherKek.privateKey;
    const cases: [string, string | undefined, RegExp][] = [
      ["missing", undefined, /file not found$/],
      ["not JSON", "{", /file is not valid JSON$/],
      ["another format", '{"format":"x"}', /not a vaultline keyring/],
      [
        "a full keyring without its private key",
        JSON.stringify({ ...full, keks: [{ ...full.keks[0], privateKey: undefined }] }),
        /privateKey is missing/,
      ],
      [
        "a short token key",
        JSON.stringify({ ...full, tokenKey: { version: 1, key: "AAAA" } }),
        /at least 32 bytes/,
      ],
      [
        "a broken public key",
        JSON.stringify({ ...full, keks: [{ ...full.keks[0], publicKey: { kty: "EC" } }] }),
        /keks\[0\]\.publicKey is not a point on the P-256 curve$/,
      ],
      [
        "a public key off the curve, which WebCrypto alone would import",
        JSON.stringify({
          ...ingest,
          keks: [{ ...kek, publicKey: { ...kek.publicKey, y: kek.publicKey.x } }],
        }),
        /keks\[0\]\.publicKey is not a point on the P-256 curve$/,
      ],
      [
        "a public key on another curve",
        JSON.stringify({
          ...ingest,
          keks: [{ ...kek, publicKey: { ...kek.publicKey, crv: "P-384" } }],
        }),
        /keks\[0\]\.publicKey is not a point on the P-256 curve$/,
      ],
      [
        "a private key of another pair",
        JSON.stringify({
          ...full,
          keks: [{ ...full.keks[0], privateKey: otherPrivateKey }],
        }),
        /keks\[0\]\.privateKey does not belong to keks\[0\]\.publicKey$/,
      ],
    ];
    for (const [name, content, pattern] of cases) {
      await t.step(name, async () => {
        const path = `${dir}/${name.replaceAll(" ", "_")}.json`;
        if (content !== undefined) await Deno.writeTextFile(path, content, { mode: 0o600 });
        await assert.rejects(readKeyring(path), (error: Error) => {
          assert.ok(error instanceof KeyringError);
          assert.ok(error.message.startsWith(`Cannot read keyring "${path}": `), error.message);
          assert.match(error.message, pattern);
          return true;
        });
      });
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a keyring file of format version 1 still loads, lists and rotates", async () => {
  const { full } = await createKeyrings(new Date("2026-01-02T03:04:05Z"));
  // Version 1 had no creation time per key; everything else is as version 2 writes it.
  const { created: _token, ...tokenKey } = full.tokenKey;
  const { created: _kek, ...kek } = full.keks[0]!;
  const v1 = { ...full, version: 1, tokenKey, keks: [kek] } as unknown as KeyringFile;
  using loaded = await importKeyring(v1);
  assert.equal(loaded.keks[0].id, kek.id);
  assert.deepEqual(listKeys(v1), [
    { id: "token_v1", kind: "token", created: "2026-01-02T03:04:05.000Z", status: "active" },
    { id: kek.id, kind: "kek", created: "2026-01-02T03:04:05.000Z", status: "active" },
  ]);
  const rotated = await rotateKeyrings(v1, { now: new Date("2026-02-01T00:00:00Z") });
  assert.equal(rotated.full.version, 2);
  assert.deepEqual(rotated.full.keks[1], kek);
  assert.deepEqual(listKeys(rotated.full).map((k) => [k.id, k.created, k.status]), [
    ["token_v1", "2026-01-02T03:04:05.000Z", "active"],
    [rotated.kekId, "2026-02-01T00:00:00.000Z", "active"],
    [kek.id, "2026-01-02T03:04:05.000Z", "decrypt-only"],
  ]);
  assert.deepEqual(rotated.ingest.tokenKey, tokenKey);
});

Deno.test("readKeyringFile() warns about an open ingest keyring only while it holds a secret", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const file = await createKeyrings();
    const kms = await createKeyrings(new Date(), {
      kmsKek: "arn:aws:kms:us-east-1:000000000000:key/a",
      kmsTokenKey: "arn:aws:kms:us-east-1:000000000000:key/b",
    });
    const warnings: string[] = [];
    for (const [name, keyring] of [["file", file], ["kms", kms]] as const) {
      await Deno.writeTextFile(`${dir}/${name}.json`, JSON.stringify(keyring.ingest));
      await Deno.chmod(`${dir}/${name}.json`, 0o644);
      await readKeyringFile(`${dir}/${name}.json`, { warn: (line) => warnings.push(line) });
    }
    assert.deepEqual(warnings, [
      `Keyring "${dir}/file.json" is open to group or others (mode 0644) and holds secret keys: ` +
      `run "chmod 600 ${dir}/file.json"`,
    ]);
    // A full keyring whose keys are all in KMS holds no secret either.
    await Deno.writeTextFile(`${dir}/kms-full.json`, JSON.stringify(kms.full), { mode: 0o644 });
    await Deno.chmod(`${dir}/kms-full.json`, 0o644);
    assert.equal((await readKeyringFile(`${dir}/kms-full.json`)).kind, "full");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
