import assert from "node:assert/strict";
import { importTokenKey } from "../lib/vault/keyring.ts";
import {
  canonicalize,
  formatToken,
  macMessage,
  type PiiValue,
  tokenField,
  tokenize,
} from "../lib/vault/token.ts";

// Key bytes 00..1f. Expected tokens computed independently with Python's hmac module:
// base64url(HMAC-SHA256(key, field + "\0" + value)[:24]).
const KEY = Uint8Array.from({ length: 32 }, (_, i) => i);

Deno.test("tokenize() matches the known-answer vectors", async (t) => {
  const key = await importTokenKey(KEY, 1);
  const vectors = [
    ["ip", "199.172.111.135", "ip1_YaryXIL5Fi_7Cyun-8PjuUYM75wcNq6l"],
    ["device_id", "593-47-5928", "dev1_tZ0O9u1UnHzARsMb8RIenI0ZxUvMHUme"],
    ["device_id", "199.172.111.135", "dev1_flloy3SO8L1S6D22F6bdQhMM8Bh8WDGO"],
  ] as const;
  for (const [field, value, expected] of vectors) {
    await t.step(`${field} ${value}`, async () => {
      assert.equal(await tokenize(key, { field, value }), expected);
    });
  }
});

Deno.test("a file token key gives the tokens of WebCrypto's HMAC-SHA256, value for value", async () => {
  const raw = crypto.getRandomValues(new Uint8Array(48));
  const key = await importTokenKey(raw, 3);
  const webCrypto = await crypto.subtle.importKey(
    "raw",
    raw,
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const values: readonly PiiValue[] = [
    { field: "ip", value: "10.0.0.1" },
    { field: "ip", value: " 2001:DB8::1 " },
    { field: "ip", value: "::ffff:10.0.0.1" },
    { field: "device_id", value: "" },
    { field: "device_id", value: "é-ünïcödé-😀" },
    { field: "device_id", value: "x".repeat(100_000) },
    ...Array.from(
      { length: 50 },
      () => ({ field: "device_id" as const, value: crypto.randomUUID() }),
    ),
  ];
  const tokens = await key.tokenize(values);
  assert.equal(tokens.length, values.length);
  for (const [i, value] of values.entries()) {
    const mac = await crypto.subtle.sign("HMAC", webCrypto, macMessage(value));
    assert.equal(tokens[i], formatToken(value.field, 3, new Uint8Array(mac)), `value ${i}`);
  }
});

Deno.test("tokenize() gives equal tokens for equal values and different ones otherwise", async () => {
  const key = await importTokenKey(crypto.getRandomValues(new Uint8Array(32)), 1);
  const other = await importTokenKey(crypto.getRandomValues(new Uint8Array(32)), 1);
  const a = await tokenize(key, { field: "device_id", value: "593-47-5928" });
  assert.equal(await tokenize(key, { field: "device_id", value: "593-47-5928" }), a);
  assert.notEqual(await tokenize(key, { field: "device_id", value: "593-47-5929" }), a);
  assert.notEqual(await tokenize(other, { field: "device_id", value: "593-47-5928" }), a);
  // Domain separation: the same string as an ip gives another MAC, not just another prefix.
  const asIp = await tokenize(key, { field: "ip", value: "593-47-5928" });
  assert.notEqual(asIp.split("_")[1], a.split("_")[1]);
});

Deno.test("tokenize() gives printable tokens of at most 64 characters naming field and key version", async () => {
  const key = await importTokenKey(crypto.getRandomValues(new Uint8Array(32)), 7);
  const ip = await tokenize(key, { field: "ip", value: "10.0.0.1" });
  const device = await tokenize(key, { field: "device_id", value: "x".repeat(10_000) });
  assert.match(ip, /^ip7_[A-Za-z0-9_-]{32}$/);
  assert.match(device, /^dev7_[A-Za-z0-9_-]{32}$/);
  assert.ok(device.length <= 64);
  assert.equal(tokenField(ip), "ip");
  assert.equal(tokenField(device), "device_id");
  assert.equal(tokenField("not a token"), undefined);
});

Deno.test("canonicalize() gives equal addresses one form", async (t) => {
  const cases = [
    ["10.1.2.3", "10.1.2.3"],
    [" 10.1.2.3\n", "10.1.2.3"],
    ["2001:DB8:0:0:0:0:0:1", "2001:db8::1"],
    ["2001:db8::0:1", "2001:db8::1"],
    ["2001:0db8:0000:0000:0001:0000:0000:0001", "2001:db8::1:0:0:1"],
    ["::FFFF:10.1.2.3", "10.1.2.3"],
    ["::ffff:0a01:0203", "10.1.2.3"],
    ["not an address", "not an address"],
    ["010.1.2.3", "010.1.2.3"],
  ] as const;
  for (const [input, expected] of cases) {
    await t.step(JSON.stringify(input), () => assert.equal(canonicalize("ip", input), expected));
  }
  assert.equal(canonicalize("device_id", " A-1 "), " A-1 ");
  const key = await importTokenKey(KEY, 1);
  assert.equal(
    await tokenize(key, { field: "ip", value: "::ffff:199.172.111.135" }),
    await tokenize(key, { field: "ip", value: "199.172.111.135" }),
  );
});
