/**
 * Key providers on AWS KMS: the token key is a KMS HMAC key (tokens from `GenerateMac`), a KEK is
 * a KMS symmetric key (data keys from `GenerateDataKey`, unwrapped by `Decrypt`). The key
 * material never leaves KMS; every use is a logged, rate-limited, IAM-checked call.
 */
import {
  DecryptCommand,
  EncryptCommand,
  GenerateDataKeyCommand,
  GenerateMacCommand,
  KMSClient,
} from "@aws-sdk/client-kms";
import type { KekProvider, TokenKeyProvider } from "./key_provider.ts";
import { canonicalize, formatToken, macMessage, type PiiValue } from "./token.ts";

/** How to reach KMS; without `credentials`, the AWS SDK's default chain applies. */
export interface KmsOptions {
  readonly region: string;
  /** KMS endpoint; undefined means the AWS default for the region. */
  readonly endpoint?: string | undefined;
  readonly credentials?: { accessKeyId: string; secretAccessKey: string } | undefined;
  /** Recent value → token pairs kept, so a repeated value costs no call (default 10,000). */
  readonly tokenCacheSize?: number | undefined;
}

/** KMS's limit on a `GenerateMac` message; longer messages are MACed as their SHA-256. */
export const KMS_MAC_MESSAGE_MAX = 4096;

/** `GenerateMac` calls in flight at once for one batch. */
const PARALLEL_MACS = 16;

/** The default size of the value → token cache. */
const TOKEN_CACHE_SIZE = 10_000;

/** The encryption context of a data key: names vaultline and the data key, checked on Decrypt. */
export function dataKeyContext(dataKeyId: string): Record<string, string> {
  return { service: "vaultline", dataKeyId };
}

/** One KMS client, and the key providers on it; `close()` closes its connections. */
export class KmsKeys {
  readonly #client: KMSClient;
  readonly #cacheSize: number;

  constructor(options: KmsOptions) {
    this.#client = new KMSClient({
      region: options.region,
      ...(options.endpoint === undefined ? {} : { endpoint: options.endpoint }),
      ...(options.credentials === undefined ? {} : { credentials: options.credentials }),
    });
    this.#cacheSize = options.tokenCacheSize ?? TOKEN_CACHE_SIZE;
  }

  /** The token key of `version` on the KMS HMAC_256 key `keyId`. */
  tokenKey(keyId: string, version: number): TokenKeyProvider {
    const client = this.#client;
    const cache = new RecentTokens(this.#cacheSize);
    const mac = async (value: PiiValue): Promise<string> => {
      const response = await client.send(
        new GenerateMacCommand({
          KeyId: keyId,
          MacAlgorithm: "HMAC_SHA_256",
          Message: await kmsMessage(value),
        }),
      );
      if (!response.Mac) throw new Error(`KMS key "${keyId}" returned no MAC`);
      return formatToken(value.field, version, response.Mac);
    };
    return {
      version,
      location: "aws-kms",
      async tokenize(values) {
        const tokens = values.map((value) => cache.get(value, mac));
        return await Promise.all(tokens);
      },
    };
  }

  /** The KEK `id` on the KMS symmetric key `keyId`. */
  kek(id: string, keyId: string): KekProvider {
    const client = this.#client;
    const importKey = async (plaintext: Uint8Array, extractable: boolean, usage: KeyUsage) => {
      try {
        return await crypto.subtle.importKey(
          "raw",
          new Uint8Array(plaintext),
          { name: "AES-GCM", length: 256 },
          extractable,
          [usage],
        );
      } finally {
        plaintext.fill(0);
      }
    };
    return {
      id,
      location: "aws-kms",
      async newDataKey() {
        const dataKeyId = crypto.randomUUID();
        const response = await client.send(
          new GenerateDataKeyCommand({
            KeyId: keyId,
            KeySpec: "AES_256",
            EncryptionContext: dataKeyContext(dataKeyId),
          }),
        );
        if (!response.Plaintext || !response.CiphertextBlob) {
          throw new Error(`KMS key "${keyId}" returned no data key`);
        }
        // Sealing uses the raw bytes (node:crypto); the SDK's copy is wiped.
        const raw = new Uint8Array(response.Plaintext);
        response.Plaintext.fill(0);
        if (raw.length !== 32) throw new Error(`KMS key "${keyId}" returned no AES-256 data key`);
        return { id: dataKeyId, kekId: id, raw, wrapped: new Uint8Array(response.CiphertextBlob) };
      },
      async unwrap(dataKey, options) {
        const response = await client.send(
          new DecryptCommand({
            KeyId: keyId,
            CiphertextBlob: dataKey.wrapped,
            EncryptionContext: dataKeyContext(dataKey.id),
          }),
        );
        if (!response.Plaintext) throw new Error(`KMS key "${keyId}" returned no plaintext`);
        return await importKey(response.Plaintext, options?.extractable ?? false, "decrypt");
      },
      async wrap(dataKey) {
        const raw = new Uint8Array(await crypto.subtle.exportKey("raw", dataKey.key));
        try {
          const response = await client.send(
            new EncryptCommand({
              KeyId: keyId,
              Plaintext: raw,
              EncryptionContext: dataKeyContext(dataKey.id),
            }),
          );
          if (!response.CiphertextBlob) {
            throw new Error(`KMS key "${keyId}" returned no ciphertext`);
          }
          return new Uint8Array(response.CiphertextBlob);
        } finally {
          raw.fill(0);
        }
      },
    };
  }

  close(): void {
    this.#client.destroy();
  }
}

/**
 * The message KMS MACs for a value: the same bytes a file token key MACs, or, beyond KMS's
 * 4096-byte limit, the field, two NULs and the SHA-256 of those bytes (no value holds a NUL).
 */
async function kmsMessage(value: PiiValue): Promise<Uint8Array<ArrayBuffer>> {
  const message = macMessage(value);
  if (message.length <= KMS_MAC_MESSAGE_MAX) return message;
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", message));
  const prefix = new TextEncoder().encode(`${value.field}\0\0`);
  const long = new Uint8Array(prefix.length + digest.length);
  long.set(prefix);
  long.set(digest, prefix.length);
  return long;
}

/**
 * A bounded map of recent value → token, least recently used out first. A value asked for while
 * its MAC is in flight shares that call, so a batch costs one call per distinct value at most.
 */
class RecentTokens {
  readonly #max: number;
  readonly #tokens = new Map<string, Promise<string>>();
  #inFlight = 0;
  readonly #waiting: (() => void)[] = [];

  constructor(max: number) {
    this.#max = max;
  }

  get(value: PiiValue, mac: (value: PiiValue) => Promise<string>): Promise<string> {
    const key = `${value.field}\0${canonicalize(value.field, value.value)}`;
    const cached = this.#tokens.get(key);
    if (cached) {
      this.#tokens.delete(key);
      this.#tokens.set(key, cached);
      return cached;
    }
    const token = this.#limited(() => mac(value));
    this.#tokens.set(key, token);
    // A failed call is not remembered: the next batch asks again.
    token.catch(() => {
      if (this.#tokens.get(key) === token) this.#tokens.delete(key);
    });
    while (this.#tokens.size > this.#max) {
      const oldest = this.#tokens.keys().next().value;
      if (oldest === undefined) break;
      this.#tokens.delete(oldest);
    }
    return token;
  }

  async #limited<T>(call: () => Promise<T>): Promise<T> {
    while (this.#inFlight >= PARALLEL_MACS) {
      await new Promise<void>((resolve) => this.#waiting.push(resolve));
    }
    this.#inFlight++;
    try {
      return await call();
    } finally {
      this.#inFlight--;
      this.#waiting.shift()?.();
    }
  }
}
