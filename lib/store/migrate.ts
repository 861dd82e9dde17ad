/** Schema migrations: numbered files in `sql/`, applied in order once, recorded in a table. */
import vault from "../../sql/001_vault.sql" with { type: "text" };
import lifecycle from "../../sql/005_lifecycle.sql" with { type: "text" };
import type { Database } from "./database.ts";

/** Every migration, in the order it applies. */
export const MIGRATIONS: readonly { version: number; name: string; sql: string }[] = [
  { version: 1, name: "001_vault", sql: vault },
  { version: 5, name: "005_lifecycle", sql: lifecycle },
];

/** Serializes migrations between processes: an arbitrary constant, "vaultl" in ASCII. */
export const MIGRATION_LOCK = 0x7661756c746c;

/** Applies the migrations `db` lacks, under an advisory lock; returns the versions applied. */
export async function migrate(db: Database): Promise<number[]> {
  return await db.begin(async (tx) => {
    await tx`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK}::bigint)`;
    await tx`
      CREATE TABLE IF NOT EXISTS vaultline_migrations (
        version     integer PRIMARY KEY,
        name        text NOT NULL,
        applied_at  timestamptz NOT NULL DEFAULT now()
      )`;
    const rows = await tx<{ version: number }[]>`SELECT version FROM vaultline_migrations`;
    const done = new Set(rows.map((row) => row.version));
    const applied: number[] = [];
    for (const migration of MIGRATIONS) {
      if (done.has(migration.version)) continue;
      await tx.unsafe(migration.sql).simple();
      await tx`
        INSERT INTO vaultline_migrations (version, name)
        VALUES (${migration.version}, ${migration.name})`;
      applied.push(migration.version);
    }
    return applied;
  });
}
