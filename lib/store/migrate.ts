/** Schema migrations: numbered files in `sql/`, applied in order once, recorded in a table. */
import vault from "../../sql/001_vault.sql" with { type: "text" };
import governance from "../../sql/002_governance.sql" with { type: "text" };
import { ConfigError } from "../config_error.ts";
import lifecycle from "../../sql/005_lifecycle.sql" with { type: "text" };
import ops from "../../sql/006_ops.sql" with { type: "text" };
import type { Database } from "./database.ts";

/** One migration: its version, its file's name, and its SQL. */
export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly sql: string;
}

/** Every migration, in the order it applies. */
export const MIGRATIONS: readonly Migration[] = [
  { version: 1, name: "001_vault", sql: vault },
  { version: 2, name: "002_governance", sql: governance },
  { version: 5, name: "005_lifecycle", sql: lifecycle },
  { version: 6, name: "006_ops", sql: ops },
];

/** Serializes migrations between processes: an arbitrary constant, "vaultl" in ASCII. */
export const MIGRATION_LOCK = 0x7661756c746c;

/**
 * Applies the migrations `db` lacks (up to version `through`, all by default), under an advisory
 * lock; returns the versions applied.
 */
export async function migrate(
  db: Database,
  { through = Number.MAX_SAFE_INTEGER }: { through?: number } = {},
): Promise<number[]> {
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
      if (done.has(migration.version) || migration.version > through) continue;
      await tx.unsafe(migration.sql).simple();
      await tx`
        INSERT INTO vaultline_migrations (version, name)
        VALUES (${migration.version}, ${migration.name})`;
      applied.push(migration.version);
    }
    return applied;
  });
}

/**
 * The migrations `db` lacks, read without locking or creating anything, so a role that may not
 * create tables can ask. A version table it may not read is a `ConfigError`.
 */
export async function pendingMigrations(db: Database): Promise<Migration[]> {
  const [table] = await db<{ exists: boolean }[]>`
    SELECT to_regclass('vaultline_migrations') IS NOT NULL AS exists`;
  if (!table?.exists) return [...MIGRATIONS];
  let rows: { version: number }[];
  try {
    rows = await db<{ version: number }[]>`SELECT version FROM vaultline_migrations`;
  } catch (error) {
    if (!isPermissionDenied(error)) throw error;
    throw new ConfigError(
      `Cannot read the schema version: ${messageOf(error)}: grant the user a vaultline role`,
      { cause: error },
    );
  }
  const done = new Set(rows.map((row) => row.version));
  return MIGRATIONS.filter((migration) => !done.has(migration.version));
}

/**
 * Applies pending migrations when the database user may, and returns their versions; when it
 * may not, a `ConfigError` says which are pending and what to run. Nothing is locked or created
 * when the schema is current.
 */
export async function migrateIfAllowed(db: Database): Promise<number[]> {
  const pending = await pendingMigrations(db);
  if (pending.length === 0) return [];
  try {
    return await migrate(db);
  } catch (error) {
    if (!isPermissionDenied(error)) throw error;
    throw new ConfigError(
      `Cannot apply migration ${pending.map((m) => `"${m.name}"`).join(", ")}: ${
        messageOf(error)
      }: run "deno task migrate" as the schema owner`,
      { cause: error },
    );
  }
}

/** A `ConfigError` naming the command to run when `db` lacks migrations. */
export async function requireCurrentSchema(db: Database): Promise<void> {
  const pending = await pendingMigrations(db);
  if (pending.length === 0) return;
  throw new ConfigError(
    `Cannot use the database: migration ${
      pending.map((m) => `"${m.name}"`).join(", ")
    } is not applied: run "deno task migrate" as the schema owner`,
  );
}

/** Whether `error` is Postgres refusing for want of a privilege (SQLSTATE 42501). */
export function isPermissionDenied(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === "42501";
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
