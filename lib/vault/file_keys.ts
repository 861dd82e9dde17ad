/** Key providers on key material held in a keyring file: an HMAC token key and ECDH P-256 KEKs. */
import { createHmac } from "node:crypto";
import { createDataKey, unwrapDataKey, wrapDataKey } from "./envelope.ts";
import type { KekProvider, TokenKeyProvider } from "./key_provider.ts";
import type { Kek } from "./keyring.ts";
import { formatToken, macMessage } from "./token.ts";

/**
 * A token key from raw HMAC-SHA256 key bytes (at least 32) of `version`. Synchronous
 * `node:crypto` HMAC per value, one promise per call: the same MACs as WebCrypto's HMAC.
 */
export function fileTokenKey(
  raw: Uint8Array<ArrayBuffer>,
  version: number,
): Promise<TokenKeyProvider> {
  if (raw.length < 32) {
    return Promise.reject(new TypeError("tokenKey.key must hold at least 32 bytes"));
  }
  // A copy, so that a caller wiping its buffer leaves the key intact.
  const key = raw.slice();
  return Promise.resolve({
    version,
    location: "file",
    tokenize: (values) => {
      try {
        return Promise.resolve(values.map((value) => {
          const mac = createHmac("sha256", key).update(macMessage(value)).digest();
          return formatToken(value.field, version, mac);
        }));
      } catch (error) {
        return Promise.reject(error);
      }
    },
  });
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
