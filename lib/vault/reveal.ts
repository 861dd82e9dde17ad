/** Authorized recovery of originals: audited in the transaction that reads the vault. */
import { ConfigError } from "../config.ts";
import type { Database } from "../store/database.ts";
import { open, unwrapDataKey } from "./envelope.ts";
import type { Keyring } from "./keyring.ts";
import { vaultContext } from "./seal_batch.ts";
import type { PiiField } from "./token.ts";

/** One recovered original. */
export interface Revealed {
  readonly token: string;
  readonly field: PiiField;
  readonly value: string;
}

/** The outcome of a reveal: the originals found, and the tokens the vault does not hold. */
export interface RevealResult {
  readonly revealed: readonly Revealed[];
  readonly unknown: readonly string[];
}

interface VaultEntry {
  token: string;
  field: PiiField;
  nonce: Uint8Array<ArrayBuffer>;
  ciphertext: Uint8Array<ArrayBuffer>;
  dataKeyId: string;
  kekId: string;
  wrappedKey: Uint8Array<ArrayBuffer>;
}

/**
 * Recovers the originals of `tokens` and records the reveal in `reveal_audit` in the same
 * transaction. It returns only after that commits; if any entry fails to decrypt, nothing is
 * revealed and nothing is recorded.
 */
export async function revealTokens(
  db: Database,
  keyring: Keyring,
  request: { tokens: readonly string[]; reason: string; osUser: string },
): Promise<RevealResult> {
  if (keyring.kind !== "full") {
    throw new ConfigError(
      "Cannot reveal with an ingest keyring: it holds only the public half of the KEK",
    );
  }
  const reason = request.reason.trim();
  if (reason === "") throw new ConfigError("Missing --reason: every reveal must say why");
  const tokens = [...new Set(request.tokens)];
  return await db.begin(async (tx) => {
    const entries = await tx<VaultEntry[]>`
      SELECT v.token, v.field, v.nonce, v.ciphertext, v.data_key_id, k.kek_id, k.wrapped_key
      FROM pii_vault v JOIN vault_data_keys k ON k.id = v.data_key_id
      WHERE v.token IN ${tx(tokens)}`;
    const byToken = new Map(entries.map((entry) => [entry.token, entry]));
    const dataKeys = new Map<string, Promise<CryptoKey>>();
    const revealed = await Promise.all(
      tokens.filter((token) => byToken.has(token)).map(async (token): Promise<Revealed> => {
        const entry = byToken.get(token)!;
        let dataKey = dataKeys.get(entry.dataKeyId);
        if (!dataKey) {
          dataKey = unwrapFor(keyring, entry);
          dataKeys.set(entry.dataKeyId, dataKey);
        }
        const key = { id: entry.dataKeyId, key: await dataKey };
        try {
          const value = await open(key, { context: vaultContext(token, entry.field), ...entry });
          return { token, field: entry.field, value };
        } catch (error) {
          throw new Error(
            `Cannot reveal token "${token}": the vault entry failed authentication` +
              " (altered, moved, or under the wrong data key)",
            { cause: error },
          );
        }
      }),
    );
    await tx`
      INSERT INTO reveal_audit (os_user, reason, tokens, token_count)
      VALUES (${request.osUser}, ${reason}, ${revealed.map((r) => r.token)}, ${revealed.length})`;
    return { revealed, unknown: tokens.filter((token) => !byToken.has(token)) };
  });
}

async function unwrapFor(keyring: Keyring, entry: VaultEntry): Promise<CryptoKey> {
  const kek = keyring.keks.find((k) => k.id === entry.kekId);
  if (!kek) {
    throw new Error(
      `Cannot reveal token "${entry.token}": its data key is wrapped by KEK "${entry.kekId}",` +
        " which the keyring does not hold",
    );
  }
  try {
    return await unwrapDataKey(kek, { id: entry.dataKeyId, wrapped: entry.wrappedKey });
  } catch (error) {
    throw new Error(
      `Cannot reveal token "${entry.token}": its data key failed to unwrap under KEK "${kek.id}"`,
      { cause: error },
    );
  }
}
