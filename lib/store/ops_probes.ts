/** What the operations endpoint asks the database: reachable, current, and the audit's counts. */
import type { Database } from "./database.ts";
import { pendingMigrations } from "./migrate.ts";

/** Undefined when `db` answers and holds every migration; else why not, one line, no secrets. */
export async function databaseReadiness(db: Database): Promise<string | undefined> {
  const pending = await pendingMigrations(db);
  return pending.length === 0
    ? undefined
    : `the schema lacks ${pending.map((m) => m.name).join(", ")}: run "vaultline migrate"`;
}

/** Rows of `reveal_audit` by kind (`reveal`, `reveal_failed`, `forget`, ...): counts only. */
export async function auditCounts(db: Database): Promise<Record<string, number>> {
  const rows = await db<
    { kind: string; n: string }[]
  >`SELECT kind, n FROM vaultline_audit_counts()`;
  return Object.fromEntries(rows.map((row) => [row.kind, Number(row.n)]));
}
