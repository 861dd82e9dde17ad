/** The SQL of the key lifecycle: counting data keys by KEK, and rewrapping them in batches. */
import type { Database } from "./database.ts";

/** A `vault_data_keys` row as rewrap reads it. */
export interface StoredDataKey {
  readonly id: string;
  readonly kekId: string;
  readonly wrappedKey: Uint8Array<ArrayBuffer>;
}

/** How many data keys each KEK wraps, by KEK id. */
export async function countDataKeysByKek(db: Database): Promise<Map<string, number>> {
  const rows = await db<{ kekId: string; n: number }[]>`
    SELECT kek_id, count(*)::int AS n FROM vault_data_keys GROUP BY kek_id`;
  return new Map(rows.map((row) => [row.kekId, row.n]));
}

/** What one rewrap batch changed. */
export interface RewrapBatch {
  /** Data keys moved to the new KEK, by the KEK that wrapped them before. */
  readonly from: ReadonlyMap<string, number>;
  readonly count: number;
}

/**
 * Moves up to `batchSize` data keys not yet under `toKekId` to it, in one transaction: the rows
 * are locked, `rewrap` gives each its new wrapped form, and both columns change together. A
 * crash rolls the batch back whole; the next call picks up what is left. Returns undefined when
 * no data key is left to move.
 */
export async function rewrapDataKeyBatch(
  db: Database,
  { toKekId, batchSize, rewrap }: {
    toKekId: string;
    batchSize: number;
    rewrap: (dataKeys: readonly StoredDataKey[]) => Promise<readonly Uint8Array[]>;
  },
): Promise<RewrapBatch | undefined> {
  return await db.begin(async (tx) => {
    const rows = await tx<StoredDataKey[]>`
      SELECT id, kek_id, wrapped_key FROM vault_data_keys
      WHERE kek_id <> ${toKekId}
      ORDER BY id
      LIMIT ${batchSize}
      FOR UPDATE`;
    // Another rewrap may have moved a locked row meanwhile; it is re-checked once locked.
    const left = rows.filter((row) => row.kekId !== toKekId);
    if (left.length === 0) return undefined;
    const wrapped = await rewrap(left);
    if (wrapped.length !== left.length) throw new Error("Rewrap returned the wrong count");
    await Promise.all(left.map((row, i) =>
      tx`
        UPDATE vault_data_keys SET kek_id = ${toKekId}, wrapped_key = ${wrapped[i]!}
        WHERE id = ${row.id} AND kek_id = ${row.kekId}`
    ));
    const from = new Map<string, number>();
    for (const row of left) from.set(row.kekId, (from.get(row.kekId) ?? 0) + 1);
    return { from, count: left.length };
  });
}
