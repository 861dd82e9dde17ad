/**
 * The seams between vaultline and wherever its keys live: a file keyring or AWS KMS. The ingest
 * needs `TokenKeyProvider.tokenize` and `KekProvider.newDataKey`; reveal needs `unwrap`; rewrap
 * needs `unwrap` and `wrap`.
 */
import type { PiiValue } from "./token.ts";

/** Where a key lives. */
export type KeyLocation = "file" | "aws-kms";

/** The key behind every token. It never rotates: equal values must keep equal tokens. */
export interface TokenKeyProvider {
  /** The version every token carries (`ip1_`, `dev1_`); a new token key is a new version. */
  readonly version: number;
  readonly location: KeyLocation;
  /** The tokens of `values`, in their order; one MAC per distinct value at most. */
  tokenize(values: readonly PiiValue[]): Promise<string[]>;
}

/**
 * A data key in memory, for the ingest to seal with, and the wrapped form kept in
 * `vault_data_keys`. The ingest seals with it and never opens: only the wrapped form is stored.
 */
export interface DataKey {
  readonly id: string;
  readonly kekId: string;
  /** The AES-256 key's 32 bytes, taken once when the data key is made: `seal` uses them. */
  readonly raw: Uint8Array<ArrayBuffer>;
  readonly wrapped: Uint8Array<ArrayBuffer>;
}

/** A data key as stored: its id and its wrapped form. */
export interface WrappedDataKey {
  readonly id: string;
  readonly wrapped: Uint8Array<ArrayBuffer>;
}

/** A key-encryption key (KEK): it wraps data keys, and (given the right to) unwraps them. */
export interface KekProvider {
  /** The id kept beside every data key it wraps (`vault_data_keys.kek_id`). */
  readonly id: string;
  readonly location: KeyLocation;
  /** A new random AES-256 data key, wrapped under this KEK: all the ingest ever asks. */
  newDataKey(): Promise<DataKey>;
  /**
   * The AES-GCM key of a data key wrapped under this KEK, for decryption; `extractable` only so
   * that rewrap can wrap it again. Throws when it was not wrapped under this KEK for this id.
   */
  unwrap(dataKey: WrappedDataKey, options?: { extractable?: boolean }): Promise<CryptoKey>;
  /** Wraps an existing, extractable data key under this KEK: what rewrap needs. */
  wrap(dataKey: { readonly id: string; readonly key: CryptoKey }): Promise<Uint8Array<ArrayBuffer>>;
}
