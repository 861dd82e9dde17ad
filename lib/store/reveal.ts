/** The SQL of a reveal: read the sealed entries and record the reveal in one transaction. */
import type { Database } from "./database.ts";

/** A `pii_vault` row with its data key's wrapped form, as a reveal reads it. */
export interface StoredEntry {
  readonly token: string;
  readonly field: "ip" | "device_id";
  readonly dataKeyId: string;
  readonly kekId: string;
  readonly wrappedKey: Uint8Array<ArrayBuffer>;
  readonly nonce: Uint8Array<ArrayBuffer>;
  readonly ciphertext: Uint8Array<ArrayBuffer>;
}

/** Who asks, why, and for which tokens. */
export interface RevealRequest {
  readonly tokens: readonly string[];
  readonly reason: string;
  readonly osUser: string;
}

/** What a reveal found: the opened values, and the tokens the vault does not hold. */
export interface RevealResult<T> {
  readonly revealed: readonly T[];
  readonly unknown: readonly string[];
}

/**
 * Reads the entries of `request.tokens`, opens them with `open`, and records the reveal in
 * `reveal_audit`, all in one transaction; resolves only after it commits. When `open` throws,
 * the transaction rolls back and nothing is recorded.
 */
export async function revealWithAudit<T extends { token: string }>(
  db: Database,
  request: RevealRequest,
  open: (entries: readonly StoredEntry[]) => Promise<readonly T[]>,
): Promise<RevealResult<T>> {
  const tokens = [...new Set(request.tokens)];
  return await db.begin(async (tx) => {
    const entries = await tx<StoredEntry[]>`
      SELECT v.token, v.field, v.nonce, v.ciphertext, v.data_key_id, k.kek_id, k.wrapped_key
      FROM pii_vault v JOIN vault_data_keys k ON k.id = v.data_key_id
      WHERE v.token IN ${tx(tokens)}`;
    const byToken = new Map(entries.map((entry) => [entry.token, entry]));
    const found = tokens.flatMap((token) => byToken.get(token) ?? []);
    const revealed = await open(found);
    await tx`
      INSERT INTO reveal_audit (os_user, reason, tokens, token_count)
      VALUES (${request.osUser}, ${request.reason}, ${revealed.map((r) => r.token)},
              ${revealed.length})`;
    return { revealed, unknown: tokens.filter((token) => !byToken.has(token)) };
  });
}
