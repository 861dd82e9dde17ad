/** Writes a sealed batch: one statement per table, idempotent on message id. */
import type { Transaction } from "./database.ts";

/** A `user_logins` row. */
export interface LoginRow {
  readonly messageId: string;
  readonly userId: string;
  readonly deviceType: string;
  readonly maskedIp: string;
  readonly maskedDeviceId: string;
  readonly locale: string | null;
  readonly appVersion: number;
  readonly createDate: string;
}

/** A `pii_vault` row: a token and its canonical original, sealed. */
export interface VaultRow {
  readonly token: string;
  readonly field: "ip" | "device_id";
  readonly dataKeyId: string;
  readonly nonce: Uint8Array;
  readonly ciphertext: Uint8Array;
}

/** An `ingest_quarantine` row: the reason, and the body sealed. */
export interface QuarantineRow {
  readonly messageId: string;
  readonly reason: string;
  readonly sentAt: Date;
  readonly dataKeyId: string;
  readonly nonce: Uint8Array;
  readonly bodyCiphertext: Uint8Array;
}

/** A `vault_data_keys` row: a data key, only in its wrapped form. */
export interface DataKeyRow {
  readonly id: string;
  readonly kekId: string;
  readonly wrapped: Uint8Array;
}

/** A batch ready to write. Rows are sorted by key so concurrent writers lock in one order. */
export interface SealedBatch {
  /** The data key the batch's values are sealed under; undefined when nothing was sealed. */
  readonly dataKey: DataKeyRow | undefined;
  readonly logins: readonly LoginRow[];
  readonly vault: readonly VaultRow[];
  readonly quarantine: readonly QuarantineRow[];
  /** Messages in the batch: rows, quarantine, and repeats of a message id within it. */
  readonly messages: number;
}

/** What a batch write changed. */
export interface BatchResult {
  /** New `user_logins` rows. */
  readonly inserted: number;
  /** Message ids of the new `ingest_quarantine` rows. */
  readonly quarantined: readonly string[];
  /** Messages already written by an earlier delivery (or twice in this batch): nothing added. */
  readonly duplicates: number;
  /** New `pii_vault` rows. */
  readonly newVaultEntries: number;
}

/**
 * Writes `batch` in `tx`: its `user_logins` or quarantine rows, and the vault entries and data
 * key those need. A message id already present adds nothing, so redelivery is harmless.
 *
 * Rows go as one array parameter a column through `unnest`: one statement text whatever the row
 * count, so each is parsed and planned once per connection, and it writes 500 logins with their
 * vault entries in 0.55 to 0.7 x the time of multi-row VALUES (tests/write_batch_bench.ts). Bytes
 * travel as hex text: postgres.js 3.4 sends an array of Uint8Array as bytea, not bytea[].
 */
export async function writeBatch(tx: Transaction, batch: SealedBatch): Promise<BatchResult> {
  const { dataKey, vault, logins, quarantine } = batch;
  // Issued together so the driver pipelines them: one round trip per table, in this order
  // (the vault and quarantine rows refer to the data key).
  const [, vaultRows, loginRows, quarantineRows] = await Promise.all([
    dataKey && tx`
      INSERT INTO vault_data_keys (id, kek_id, wrapped_key)
      VALUES (${dataKey.id}, ${dataKey.kekId}, ${dataKey.wrapped})
      ON CONFLICT (id) DO NOTHING`,
    vault.length === 0 ? [] : tx`
      INSERT INTO pii_vault (token, field, data_key_id, nonce, ciphertext)
      SELECT token, field, data_key_id, decode(nonce, 'hex'), decode(ciphertext, 'hex')
      FROM unnest(
        ${vault.map((r) => r.token)}::text[],
        ${vault.map((r) => r.field)}::text[],
        ${vault.map((r) => r.dataKeyId)}::uuid[],
        ${vault.map((r) => r.nonce.toHex())}::text[],
        ${vault.map((r) => r.ciphertext.toHex())}::text[]
      ) AS v(token, field, data_key_id, nonce, ciphertext)
      ON CONFLICT (token) DO NOTHING
      RETURNING token`,
    logins.length === 0 ? [] : tx`
      INSERT INTO user_logins (user_id, device_type, masked_ip, masked_device_id, locale,
                               app_version, create_date, message_id)
      SELECT * FROM unnest(
        ${logins.map((r) => r.userId)}::text[],
        ${logins.map((r) => r.deviceType)}::text[],
        ${logins.map((r) => r.maskedIp)}::text[],
        ${logins.map((r) => r.maskedDeviceId)}::text[],
        ${logins.map((r) => r.locale)}::text[],
        ${logins.map((r) => r.appVersion)}::int[],
        ${logins.map((r) => r.createDate)}::date[],
        ${logins.map((r) => r.messageId)}::text[]
      )
      ON CONFLICT (message_id, create_date) DO NOTHING
      RETURNING message_id`,
    // Quarantined bodies are rare and can be near 256 KiB: multi-row VALUES, which holds one
    // copy less of them than an array parameter (peak memory, tests/run_reliability_test.ts).
    quarantine.length === 0 ? [] : tx<{ messageId: string }[]>`
      INSERT INTO ingest_quarantine ${
      tx(quarantine, "messageId", "reason", "sentAt", "dataKeyId", "nonce", "bodyCiphertext")
    }
      ON CONFLICT (message_id) DO NOTHING
      RETURNING message_id`,
  ]);
  return {
    inserted: loginRows.length,
    quarantined: quarantineRows.map((row) => row.messageId),
    duplicates: batch.messages - loginRows.length - quarantineRows.length,
    newVaultEntries: vaultRows.length,
  };
}
