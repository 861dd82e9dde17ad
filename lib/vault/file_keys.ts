/** Key providers on key material held in a keyring file: an HMAC token key and ECDH P-256 KEKs. */
import { createDataKey, unwrapDataKey, wrapDataKey } from "./envelope.ts";
import type { KekProvider, TokenKeyProvider } from "./key_provider.ts";
import type { Kek } from "./keyring.ts";
import { formatToken, macMessage } from "./token.ts";

/** A token key from raw HMAC-SHA256 key bytes (at least 32) of `version`. */
export async function fileTokenKey(
  raw: Uint8Array<ArrayBuffer>,
  version: number,
): Promise<TokenKeyProvider> {
  if (raw.length < 32) throw new TypeError("tokenKey.key must hold at least 32 bytes");
  const key = await crypto.subtle.importKey("raw", raw, { name: "HMAC", hash: "SHA-256" }, false, [
    "sign",
  ]);
  return {
    version,
    location: "file",
    tokenize: (values) =>
      Promise.all(values.map(async (value) => {
        const mac = await crypto.subtle.sign("HMAC", key, macMessage(value));
        return formatToken(value.field, version, new Uint8Array(mac));
      })),
  };
}

/** A KEK on an ECDH P-256 key pair; without the private half it wraps but cannot unwrap. */
export function fileKek(kek: Kek): KekProvider {
  return {
    id: kek.id,
    location: "file",
    newDataKey: () => createDataKey(kek),
    unwrap: (dataKey, options) => unwrapDataKey(kek, dataKey, options),
    wrap: (dataKey) => wrapDataKey(kek, dataKey),
  };
}
