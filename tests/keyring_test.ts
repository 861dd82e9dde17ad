import assert from "node:assert/strict";
import { createKeyrings, KeyringError, readKeyring, writeKeyrings } from "../lib/vault/keyring.ts";

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
    const readFull = await readKeyring(`${dir}/full.json`);
    const readIngest = await readKeyring(`${dir}/ingest.json`);
    assert.equal(readFull.kind, "full");
    assert.equal(readIngest.kind, "ingest");
    assert.equal(readFull.keks[0]!.id, readIngest.keks[0]!.id);
    assert.ok(readFull.keks[0]!.privateKey);
    assert.equal(readIngest.keks[0]!.privateKey, undefined);
    assert.equal(readFull.tokenKey.version, 1);
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
    const kek = ingest.keks[0]!;
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
          keks: [{ ...full.keks[0], privateKey: other.full.keks[0]!.privateKey }],
        }),
        /keks\[0\]\.privateKey does not belong to keks\[0\]\.publicKey$/,
      ],
    ];
    for (const [name, content, pattern] of cases) {
      await t.step(name, async () => {
        const path = `${dir}/${name.replaceAll(" ", "_")}.json`;
        if (content !== undefined) await Deno.writeTextFile(path, content);
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
