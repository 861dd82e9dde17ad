/** Writes a batch of parsed messages: one statement per table, idempotent on message id. */
import type { ParsedMessage } from "../record/parse_message.ts";
import { type IngestVault, sealBatch } from "../vault/seal_batch.ts";
import type { Transaction } from "./database.ts";

/** What a batch write changed. */
export interface BatchResult {
  /** New `user_logins` rows. */
  readonly inserted: number;
  /** New `ingest_quarantine` rows. */
  readonly quarantined: number;
  /** Messages already written by an earlier delivery (or twice in this batch): nothing added. */
  readonly duplicates: number;
  /** New `pii_vault` rows. */
  readonly newVaultEntries: number;
}

/**
 * Writes `messages` in `tx`: their `user_logins` or quarantine rows, and the vault entries and
 * data key those need. A message id already present adds nothing, so redelivery is harmless.
 */
export async function writeBatch(
  tx: Transaction,
  messages: readonly ParsedMessage[],
  { vault }: { vault: IngestVault },
): Promise<BatchResult> {
  const batch = await sealBatch(messages, vault);
  const { dataKey } = batch;
  // Issued together so the driver pipelines them: one round trip per table, in this order
  // (the vault and quarantine rows refer to the data key).
  const [, vaultRows, loginRows, quarantineRows] = await Promise.all([
    dataKey && tx`
      INSERT INTO vault_data_keys (id, kek_id, wrapped_key)
      VALUES (${dataKey.id}, ${dataKey.kekId}, ${dataKey.wrapped})
      ON CONFLICT (id) DO NOTHING`,
    batch.vault.length === 0 ? [] : tx`
      INSERT INTO pii_vault
        ${tx(batch.vault, "token", "field", "dataKeyId", "nonce", "ciphertext")}
      ON CONFLICT (token) DO NOTHING
      RETURNING token`,
    batch.logins.length === 0 ? [] : tx`
      INSERT INTO user_logins ${
      tx(
        batch.logins,
        "userId",
        "deviceType",
        "maskedIp",
        "maskedDeviceId",
        "locale",
        "appVersion",
        "createDate",
        "messageId",
      )
    }
      ON CONFLICT (message_id) DO NOTHING
      RETURNING message_id`,
    batch.quarantine.length === 0 ? [] : tx`
      INSERT INTO ingest_quarantine ${
      tx(batch.quarantine, "messageId", "reason", "sentAt", "dataKeyId", "nonce", "bodyCiphertext")
    }
      ON CONFLICT (message_id) DO NOTHING
      RETURNING message_id`,
  ]);
  return {
    inserted: loginRows.length,
    quarantined: quarantineRows.length,
    duplicates: messages.length - loginRows.length - quarantineRows.length,
    newVaultEntries: vaultRows.length,
  };
}
