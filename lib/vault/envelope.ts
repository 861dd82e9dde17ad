/**
 * Envelope encryption. Values are sealed with AES-256-GCM under random data keys; a data key is
 * stored only wrapped by a KEK: ECDH (P-256) between a fresh ephemeral key and the KEK's public
 * half, HKDF-SHA256, then AES key wrap. Wrapping needs the public half only, so the ingest can
 * encrypt but never decrypt; unwrapping needs the KEK's private half.
 */
import { createCipheriv } from "node:crypto";
import type { DataKey, WrappedDataKey } from "./key_provider.ts";
import { type Kek, KEK_ALGORITHM } from "./keyring.ts";

/** A sealed value: the nonce and the ciphertext with its 16-byte GCM tag. */
export interface Sealed {
  readonly nonce: Uint8Array<ArrayBuffer>;
  readonly ciphertext: Uint8Array<ArrayBuffer>;
}

const EPHEMERAL_BYTES = 65;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const encoder = new TextEncoder();

/** Creates a random AES-256 data key, wrapped by `kek`'s public half. */
export async function createDataKey(kek: Kek): Promise<DataKey> {
  const id = crypto.randomUUID();
  // Extractable so it can be wrapped, and exported once: sealing uses the raw bytes.
  const key = await crypto.subtle.generateKey({ name: "AES-GCM", length: 256 }, true, ["encrypt"]);
  const raw = new Uint8Array(await crypto.subtle.exportKey("raw", key));
  return { id, kekId: kek.id, raw, wrapped: await wrapDataKey(kek, { id, key }) };
}

/**
 * Wraps the extractable data key `key` for `kek`: ECDH between a fresh ephemeral key and the
 * KEK's public half, HKDF bound to both ids, AES key wrap. Returns the ephemeral public key
 * (65 bytes) followed by the wrapped key (40 bytes).
 */
export async function wrapDataKey(
  kek: Kek,
  { id, key }: { readonly id: string; readonly key: CryptoKey },
): Promise<Uint8Array<ArrayBuffer>> {
  const ephemeral = await crypto.subtle.generateKey(KEK_ALGORITHM, true, ["deriveBits"]);
  const ephemeralPublic = new Uint8Array(
    await crypto.subtle.exportKey("raw", ephemeral.publicKey),
  );
  const wrappingKey = await deriveWrappingKey({
    privateKey: ephemeral.privateKey,
    publicKey: kek.publicKey,
    ephemeralPublic,
    kekId: kek.id,
    dataKeyId: id,
  });
  const wrapped = new Uint8Array(await crypto.subtle.wrapKey("raw", key, wrappingKey, "AES-KW"));
  const stored = new Uint8Array(EPHEMERAL_BYTES + wrapped.length);
  stored.set(ephemeralPublic);
  stored.set(wrapped, EPHEMERAL_BYTES);
  return stored;
}

/**
 * Unwraps a stored data key with `kek`'s private half, for decryption (and, when `extractable`,
 * to be wrapped again); throws when it was not wrapped for this KEK and id.
 */
export async function unwrapDataKey(
  kek: Kek,
  stored: WrappedDataKey,
  { extractable = false }: { extractable?: boolean } = {},
): Promise<CryptoKey> {
  if (!kek.privateKey) throw new TypeError(`KEK "${kek.id}" has no private key: cannot unwrap`);
  const ephemeralPublic = stored.wrapped.slice(0, EPHEMERAL_BYTES);
  const publicKey = await crypto.subtle.importKey("raw", ephemeralPublic, KEK_ALGORITHM, false, []);
  const wrappingKey = await deriveWrappingKey({
    privateKey: kek.privateKey,
    publicKey,
    ephemeralPublic,
    kekId: kek.id,
    dataKeyId: stored.id,
  });
  return await crypto.subtle.unwrapKey(
    "raw",
    stored.wrapped.slice(EPHEMERAL_BYTES),
    wrappingKey,
    "AES-KW",
    { name: "AES-GCM", length: 256 },
    extractable,
    ["decrypt"],
  );
}

/**
 * Seals `plaintext` under the raw data key with a random 96-bit nonce. `context` is bound as
 * associated data together with the data key's id, so a ciphertext moved to another row or key
 * fails to open. Synchronous `node:crypto`: the same bytes WebCrypto's AES-GCM gives, at a
 * fraction of the cost of a promise per value.
 */
export function seal(
  dataKey: { readonly id: string; readonly raw: Uint8Array },
  { context, plaintext }: { context: readonly string[]; plaintext: string },
): Sealed {
  const nonce = crypto.getRandomValues(new Uint8Array(NONCE_BYTES));
  const cipher = createCipheriv("aes-256-gcm", dataKey.raw, nonce, { authTagLength: TAG_BYTES });
  cipher.setAAD(associatedData(dataKey.id, context));
  const head = cipher.update(plaintext, "utf8");
  const tail = cipher.final();
  // WebCrypto's layout: the ciphertext, then the tag.
  const ciphertext = new Uint8Array(head.length + tail.length + TAG_BYTES);
  ciphertext.set(head);
  ciphertext.set(tail, head.length);
  ciphertext.set(cipher.getAuthTag(), head.length + tail.length);
  return { nonce, ciphertext };
}

/** Opens what `seal` sealed; throws when any byte, the context or the key differs. */
export async function open(
  dataKey: { id: string; key: CryptoKey },
  { context, nonce, ciphertext }: Sealed & { context: readonly string[] },
): Promise<string> {
  const plaintext = await crypto.subtle.decrypt(
    { name: "AES-GCM", iv: nonce, additionalData: associatedData(dataKey.id, context) },
    dataKey.key,
    ciphertext,
  );
  return new TextDecoder("utf-8", { fatal: true }).decode(plaintext);
}

/** The associated data of a vault value: its token and field. */
export function vaultContext(token: string, field: string): readonly string[] {
  return ["pii", token, field];
}

/** The associated data of a quarantined body: its message id. */
export function quarantineContext(messageId: string): readonly string[] {
  return ["quarantine", messageId];
}

function associatedData(dataKeyId: string, context: readonly string[]): Uint8Array<ArrayBuffer> {
  // JSON keeps the parts unambiguous whatever characters they hold.
  return encoder.encode(JSON.stringify(["vaultline/v1", dataKeyId, ...context]));
}

async function deriveWrappingKey(parts: {
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  ephemeralPublic: Uint8Array<ArrayBuffer>;
  kekId: string;
  dataKeyId: string;
}): Promise<CryptoKey> {
  const shared = await crypto.subtle.deriveBits(
    { name: "ECDH", public: parts.publicKey },
    parts.privateKey,
    256,
  );
  const hkdf = await crypto.subtle.importKey("raw", shared, "HKDF", false, ["deriveKey"]);
  return await crypto.subtle.deriveKey(
    {
      name: "HKDF",
      hash: "SHA-256",
      salt: parts.ephemeralPublic,
      // Binding the ids means a wrapped key copied to another row or KEK fails to unwrap.
      info: encoder.encode(JSON.stringify(["vaultline/wrap/v1", parts.kekId, parts.dataKeyId])),
    },
    hkdf,
    { name: "AES-KW", length: 256 },
    false,
    ["wrapKey", "unwrapKey"],
  );
}
