/**
 * The monthly partitions of `user_logins`. The migration's `vaultline_ensure_login_partition`
 * does the work under its own lock, so any session (the ingest, `migrate`, the archive) may call
 * these at any time: a partition is created once, with the rows the default partition held for it.
 */
import { addMonths, firstDay, isMonth, type Month, monthOf } from "../record/month.ts";
import type { Database, Transaction } from "./database.ts";

/** How long creating a partition waits for a lock before it gives up: an insert never needs it. */
const PARTITION_LOCK_TIMEOUT = "5s";

/** Creates the partitions of `months` that are missing; returns the months it created. */
export async function ensureMonthPartitions(
  db: Database,
  months: Iterable<Month>,
): Promise<Month[]> {
  const wanted = [...new Set(months)].sort();
  if (wanted.length === 0) return [];
  for (const month of wanted) {
    if (!isMonth(month)) throw new RangeError(`Invalid month "${month}": expected YYYY-MM`);
  }
  return await db.begin(async (tx) => {
    await tx`SELECT set_config('lock_timeout', ${PARTITION_LOCK_TIMEOUT}, true)`;
    const created: Month[] = [];
    for (const month of wanted) {
      const [row] = await tx<{ created: boolean }[]>`
        SELECT vaultline_ensure_login_partition(${firstDay(month)}::date) AS created`;
      if (row?.created) created.push(month);
    }
    return created;
  });
}

/** Creates the partitions of the month of `now` (UTC) and the next one, if missing. */
export async function ensureUpcomingPartitions(db: Database, now: Date): Promise<Month[]> {
  const month = monthOf(now);
  return await ensureMonthPartitions(db, [month, addMonths(month, 1)]);
}

/** Whether `user_logins` is partitioned (PostgreSQL 11 and later). */
export async function isPartitioned(db: Database | Transaction): Promise<boolean> {
  const [row] = await db<{ partitioned: boolean }[]>`
    SELECT relkind = 'p' AS partitioned FROM pg_class WHERE oid = 'user_logins'::regclass`;
  return row?.partitioned === true;
}

/** The month partitions of `user_logins`, oldest first, by the name the migration gives them. */
export async function monthPartitions(
  db: Database | Transaction,
): Promise<{ month: Month; table: string }[]> {
  const rows = await db<{ table: string }[]>`
    SELECT c.relname AS table FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
    WHERE i.inhparent = 'user_logins'::regclass AND c.relname ~ '^user_logins_[0-9]{4}_[0-9]{2}$'
    ORDER BY c.relname`;
  return rows.map(({ table }) => ({ month: partitionMonth(table), table }));
}

/** The table name of `month`'s partition. */
export function partitionTable(month: Month): string {
  return `user_logins_${month.replace("-", "_")}`;
}

function partitionMonth(table: string): Month {
  return table.slice("user_logins_".length).replace("_", "-");
}
