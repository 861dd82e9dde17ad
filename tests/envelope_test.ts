import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { createCipheriv, createECDH, createHash } from "node:crypto";
import { open, seal, unwrapDataKey } from "../lib/vault/envelope.ts";
import { createKeyrings, importKeyring, type Kek, KEK_ALGORITHM } from "../lib/vault/keyring.ts";

// Test vectors made with Node.js's OpenSSL-backed node:crypto, independent of the WebCrypto code
// under test: AES-256-GCM(key = SHA-256("vaultline test vector: data key"), nonce 00..0b,
// AAD = JSON ["vaultline/v1", id, "pii", token, "ip"]), and the data key wrapped for the KEK
// with private scalar SHA-256("vaultline test vector: kek") by ephemeral scalar
// SHA-256("vaultline test vector: ephemeral"): ECDH, HKDF-SHA256(salt = ephemeral public key,
// info = JSON ["vaultline/wrap/v1", kek id, data key id]), AES-256 key wrap (RFC 3394).
const VECTOR = {
  dataKeyId: "00000000-0000-4000-8000-000000000001",
  kekId: "kek_testvector",
  token: "ip1_YaryXIL5Fi_7Cyun-8PjuUYM75wcNq6l",
  nonce: Uint8Array.from({ length: 12 }, (_, i) => i),
  ciphertext: Uint8Array.fromHex("4477b558529d53953a1478b8711317d59fe22ded15a4a9280e072299b9fc13"),
  wrapped: Uint8Array.fromHex(
    "04de0ee47f516daa3b26ac1d2435173e2e09553d33ea000435cad090c3c8aed555ebf31f00b8bb3253017a3ff296d6e9" +
      "42dffd38c596d0d1af9898dae68442e1cf729f9de96ab67bb3bb0259433695b5e13e291bed71a78b2297f7608937fcc" +
      "a6e077897b1dc1cc1e2",
  ),
};

async function vectorKek(): Promise<Kek> {
  const d = createHash("sha256").update("vaultline test vector: kek").digest();
  const ecdh = createECDH("prime256v1");
  ecdh.setPrivateKey(d);
  const point = ecdh.getPublicKey();
  const jwk = {
    kty: "EC",
    crv: "P-256",
    x: point.subarray(1, 33).toString("base64url"),
    y: point.subarray(33).toString("base64url"),
  };
  return {
    id: VECTOR.kekId,
    publicKey: await crypto.subtle.importKey("jwk", jwk, KEK_ALGORITHM, false, []),
    privateKey: await crypto.subtle.importKey(
      "jwk",
      { ...jwk, d: d.toString("base64url") },
      KEK_ALGORITHM,
      false,
      ["deriveBits"],
    ),
  };
}

async function fullAndIngest() {
  const files = await createKeyrings();
  return { full: await importKeyring(files.full), ingest: await importKeyring(files.ingest) };
}

Deno.test("unwrapDataKey() and open() recover the known-answer vector", async () => {
  const kek = await vectorKek();
  const key = await unwrapDataKey(kek, { id: VECTOR.dataKeyId, wrapped: VECTOR.wrapped });
  const value = await open({ id: VECTOR.dataKeyId, key }, {
    context: ["pii", VECTOR.token, "ip"],
    ...VECTOR,
  });
  assert.equal(value, "199.172.111.135");
});

Deno.test("open() refuses a vector with one flipped bit, another context or another key id", async (t) => {
  const kek = await vectorKek();
  const key = await unwrapDataKey(kek, { id: VECTOR.dataKeyId, wrapped: VECTOR.wrapped });
  const context = ["pii", VECTOR.token, "ip"];
  for (let bit = 0; bit < VECTOR.ciphertext.length * 8; bit += 37) {
    const ciphertext = VECTOR.ciphertext.slice();
    ciphertext[bit >> 3]! ^= 1 << (bit & 7);
    await assert.rejects(
      open({ id: VECTOR.dataKeyId, key }, { context, ...VECTOR, ciphertext }),
    );
  }
  await t.step("another token", async () => {
    await assert.rejects(
      open({ id: VECTOR.dataKeyId, key }, { context: ["pii", "ip1_other", "ip"], ...VECTOR }),
    );
  });
  await t.step("another field", async () => {
    await assert.rejects(
      open({ id: VECTOR.dataKeyId, key }, {
        context: ["pii", VECTOR.token, "device_id"],
        ...VECTOR,
      }),
    );
  });
  await t.step("another data key id", async () => {
    await assert.rejects(open({ id: crypto.randomUUID(), key }, { context, ...VECTOR }));
  });
});

Deno.test("unwrapDataKey() refuses a wrapped key under another id, KEK or with a flipped bit", async () => {
  const kek = await vectorKek();
  await assert.rejects(unwrapDataKey(kek, { id: crypto.randomUUID(), wrapped: VECTOR.wrapped }));
  await assert.rejects(
    unwrapDataKey({ ...kek, id: "kek_other" }, { id: VECTOR.dataKeyId, wrapped: VECTOR.wrapped }),
  );
  const flipped = VECTOR.wrapped.slice();
  flipped[80]! ^= 4;
  await assert.rejects(unwrapDataKey(kek, { id: VECTOR.dataKeyId, wrapped: flipped }));
  const { full } = await fullAndIngest();
  await assert.rejects(full.keks[0].unwrap({ id: VECTOR.dataKeyId, wrapped: VECTOR.wrapped }));
});

Deno.test("seal() then open() round-trips through a wrapped data key and the full keyring", async () => {
  const { full, ingest } = await fullAndIngest();
  const dataKey = await ingest.keks[0].newDataKey();
  assert.equal(dataKey.wrapped.length, 105);
  const sealed = seal(dataKey, {
    context: ["pii", "dev1_x", "device_id"],
    plaintext: "593-47-5928",
  });
  const again = seal(dataKey, {
    context: ["pii", "dev1_x", "device_id"],
    plaintext: "593-47-5928",
  });
  assert.notDeepEqual(again.nonce, sealed.nonce);
  assert.notDeepEqual(again.ciphertext, sealed.ciphertext);
  const key = await full.keks[0].unwrap(dataKey);
  assert.equal(
    await open({ id: dataKey.id, key }, { context: ["pii", "dev1_x", "device_id"], ...sealed }),
    "593-47-5928",
  );
});

Deno.test("an ingest keyring can seal but not unwrap", async () => {
  const { ingest } = await fullAndIngest();
  const dataKey = await ingest.keks[0].newDataKey();
  seal(dataKey, { context: ["pii", "ip1_x", "ip"], plaintext: "10.0.0.1" });
  await assert.rejects(ingest.keks[0].unwrap(dataKey), /has no private key/);
});

/** WebCrypto's AES-256-GCM, as `seal` used it before node:crypto: the reference for the bytes. */
async function webCryptoSeal(
  raw: Uint8Array<ArrayBuffer>,
  { dataKeyId, context, nonce, plaintext }: {
    dataKeyId: string;
    context: readonly string[];
    nonce: Uint8Array<ArrayBuffer>;
    plaintext: string;
  },
): Promise<Uint8Array> {
  const key = await crypto.subtle.importKey("raw", raw, "AES-GCM", false, ["encrypt"]);
  const additionalData = new TextEncoder().encode(
    JSON.stringify(["vaultline/v1", dataKeyId, ...context]),
  );
  return new Uint8Array(
    await crypto.subtle.encrypt(
      { name: "AES-GCM", iv: nonce, additionalData },
      key,
      new TextEncoder().encode(plaintext),
    ),
  );
}

Deno.test("seal() gives WebCrypto's AES-GCM bytes, and open() opens both", async (t) => {
  const raw = new Uint8Array(
    createHash("sha256").update("vaultline test vector: data key").digest(),
  );
  const key = await crypto.subtle.importKey("raw", raw, "AES-GCM", false, ["decrypt"]);
  const dataKeyId = VECTOR.dataKeyId;
  const cases = [
    ["the vector's value", ["pii", VECTOR.token, "ip"], "199.172.111.135"],
    ["an empty value", ["pii", "dev1_x", "device_id"], ""],
    ["non-ASCII", ["pii", "dev1_é", "device_id"], "é-ünïcödé-😀"],
    ["a long quarantined body", ["quarantine", "m-1"], "{".repeat(300_000)],
  ] as const;
  for (const [name, context, plaintext] of cases) {
    await t.step(name, async () => {
      const sealed = seal({ id: dataKeyId, raw }, { context, plaintext });
      assert.equal(sealed.nonce.length, 12);
      const reference = await webCryptoSeal(raw, {
        dataKeyId,
        context,
        nonce: sealed.nonce,
        plaintext,
      });
      assert.deepEqual(sealed.ciphertext, reference);
      assert.equal(await open({ id: dataKeyId, key }, { context, ...sealed }), plaintext);
      const fresh = crypto.getRandomValues(new Uint8Array(12));
      const old = await webCryptoSeal(raw, { dataKeyId, context, nonce: fresh, plaintext });
      assert.equal(
        await open({ id: dataKeyId, key }, {
          context,
          nonce: fresh,
          ciphertext: new Uint8Array(old),
        }),
        plaintext,
      );
    });
  }
  await t.step("the known-answer vector", () => {
    // node:crypto with the vector's nonce, through the same cipher seal() uses.
    const cipher = createCipheriv("aes-256-gcm", raw, VECTOR.nonce);
    cipher.setAAD(
      new TextEncoder().encode(
        JSON.stringify(["vaultline/v1", dataKeyId, "pii", VECTOR.token, "ip"]),
      ),
    );
    const body = Buffer.concat([cipher.update("199.172.111.135", "utf8"), cipher.final()]);
    assert.deepEqual(
      new Uint8Array(Buffer.concat([body, cipher.getAuthTag()])),
      VECTOR.ciphertext,
    );
  });
});

Deno.test("a data key's raw bytes are the key its wrapped form unwraps to", async () => {
  const { full, ingest } = await fullAndIngest();
  const dataKey = await ingest.keks[0].newDataKey();
  assert.equal(dataKey.raw.length, 32);
  const key = await full.keks[0].unwrap(dataKey, { extractable: true });
  assert.deepEqual(new Uint8Array(await crypto.subtle.exportKey("raw", key)), dataKey.raw);
});
