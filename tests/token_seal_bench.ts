/**
 * Tokenize + seal per value through vaultline's functions, against the bare node:crypto
 * primitives on the same values: issue 10's target is ours at 0.8 x the bare primitives or
 * better. Both sides HMAC the field and value, format the token, and seal the value with
 * AES-256-GCM under a random nonce and the same associated data.
 */
import { Buffer } from "node:buffer";
import { createCipheriv, createHmac } from "node:crypto";
import { sealBatch } from "../lib/ingest/seal_batch.ts";
import { parseMessage } from "../lib/record/parse_message.ts";
import { generateLogins, seededRandom } from "../lib/sandbox/generate_logins.ts";
import { seal, vaultContext } from "../lib/vault/envelope.ts";
import { importTokenKey } from "../lib/vault/keyring.ts";
import { canonicalize, type PiiValue } from "../lib/vault/token.ts";
import { freshKeys } from "./vault_fixture.ts";

const { ingest } = await freshKeys();
const tokenRaw = crypto.getRandomValues(new Uint8Array(32));
const tokenKey = await importTokenKey(tokenRaw, 1);
const dataKey = await ingest.keks[0].newDataKey();
const vault = { tokenKey, dataKey: () => Promise.resolve(dataKey) };
const sentAt = new Date();
const bodies = generateLogins(500, { malformedShare: 0, random: seededRandom(10) });
const parsed = bodies.map((body, i) => parseMessage({ messageId: `m-${i}`, body, sentAt }));
// The 1,000 values of 500 logins, canonical, as sealBatch hands them to the token key.
const values: PiiValue[] = bodies.flatMap((body) => {
  const login = JSON.parse(body);
  return [
    { field: "ip", value: canonicalize("ip", login.ip) },
    { field: "device_id", value: login.device_id },
  ];
});
const PREFIX = { ip: "ip1_", device_id: "dev1_" } as const;

Deno.bench(
  "bare createHmac + createCipheriv, 1,000 values",
  { group: "per value", baseline: true },
  () => {
    for (const { field, value } of values) {
      const mac = createHmac("sha256", tokenRaw).update(`${field}\0${value}`).digest();
      const token = PREFIX[field] + mac.subarray(0, 24).toString("base64url");
      const nonce = crypto.getRandomValues(new Uint8Array(12));
      const cipher = createCipheriv("aes-256-gcm", dataKey.raw, nonce);
      cipher.setAAD(
        Buffer.from(JSON.stringify(["vaultline/v1", dataKey.id, "pii", token, field]), "utf8"),
      );
      Buffer.concat([cipher.update(value, "utf8"), cipher.final(), cipher.getAuthTag()]);
    }
  },
);

Deno.bench("tokenize() + seal(), 1,000 values", { group: "per value" }, async () => {
  const tokens = await tokenKey.tokenize(values);
  for (const [i, { field, value }] of values.entries()) {
    seal(dataKey, { context: vaultContext(tokens[i]!, field), plaintext: value });
  }
});

Deno.bench("sealBatch() of the 500 logins, 1,000 values", { group: "per value" }, async () => {
  await sealBatch(parsed, vault);
});
