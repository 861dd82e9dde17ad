/**
 * The archive's SQL: the manifest of archived months, a month's rows and checksum, the drop of an
 * archived month and the restore of one (each one transaction), and quarantine retention.
 */
import { firstDay, type Month, monthOf } from "../record/month.ts";
import type { Database, Transaction } from "./database.ts";
import { ensureMonthPartitions, monthPartitions, partitionTable } from "./partitions.ts";

/** A `user_logins` row as archived: every column, each nullable as in the exercise's DDL. */
export interface ArchivedLogin {
  readonly userId: string | null;
  readonly deviceType: string | null;
  readonly maskedIp: string | null;
  readonly maskedDeviceId: string | null;
  readonly locale: string | null;
  readonly appVersion: number | null;
  /** `YYYY-MM-DD`. */
  readonly createDate: string | null;
  readonly messageId: string | null;
}

/** A count of rows and an order-free checksum of them (see `lib/archive/row_checksum.ts`). */
export interface RowChecksum {
  readonly rows: number;
  readonly checksum: string;
}

/** Where a month's rows are, as the manifest records it. */
export type ManifestState = "exporting" | "uploaded" | "archived" | "restored";

/** An `archive_manifest` row. */
export interface ManifestEntry {
  readonly month: Month;
  readonly state: ManifestState;
  readonly bucket: string;
  readonly objectKey: string;
  /** Known once the object is verified. */
  readonly rowCount: number | null;
  readonly checksum: string | null;
  readonly objectSize: number | null;
  readonly etag: string | null;
}

/** Serializes archive and restore runs on a database: "vlarch" in ASCII. */
const ARCHIVE_LOCK = 0x766c61726368;

/** How long the drop or restore of a month waits for a lock before it gives up, to run again. */
const MONTH_LOCK_TIMEOUT = "30s";

/**
 * Runs `work` holding the archive's session lock on a connection of its own; fails at once when
 * another archive or restore holds it.
 */
export async function withArchiveLock<T>(db: Database, work: () => Promise<T>): Promise<T> {
  const connection = await db.reserve();
  try {
    const [row] = await connection<{ locked: boolean }[]>`
      SELECT pg_try_advisory_lock(${ARCHIVE_LOCK}::bigint) AS locked`;
    if (!row?.locked) {
      throw new Error("Cannot start: another archive or restore is running on this database");
    }
    try {
      return await work();
    } finally {
      await connection`SELECT pg_advisory_unlock(${ARCHIVE_LOCK}::bigint)`;
    }
  } finally {
    connection.release();
  }
}

/** The manifest's entry of `month`, if any. */
export async function manifestEntry(
  db: Database | Transaction,
  month: Month,
): Promise<ManifestEntry | undefined> {
  const [row] = await db<ManifestRow[]>`
    SELECT to_char(month, 'YYYY-MM') AS month, state, bucket, object_key, row_count, checksum,
           object_size, etag
    FROM archive_manifest WHERE month = ${firstDay(month)}::date`;
  return row && fromRow(row);
}

/** Records `entry` in the manifest, replacing the month's entry. */
export async function recordManifest(
  db: Database | Transaction,
  entry: ManifestEntry,
): Promise<void> {
  await db`
    INSERT INTO archive_manifest
      (month, state, bucket, object_key, row_count, checksum, object_size, etag)
    VALUES (${firstDay(entry.month)}::date, ${entry.state}, ${entry.bucket}, ${entry.objectKey},
            ${entry.rowCount}, ${entry.checksum}, ${entry.objectSize}, ${entry.etag})
    ON CONFLICT (month) DO UPDATE SET
      state = excluded.state, bucket = excluded.bucket, object_key = excluded.object_key,
      row_count = excluded.row_count, checksum = excluded.checksum,
      object_size = excluded.object_size, etag = excluded.etag, updated_at = now()`;
}

/**
 * The months before `before` that hold rows or have a partition, with their row counts: what an
 * archive would move. Counts every row, so it reads the months in full.
 */
export async function monthsBefore(
  db: Database,
  before: Month,
): Promise<{ month: Month; rows: number }[]> {
  const counted = await db<{ month: string; rows: string }[]>`
    SELECT to_char(create_date, 'YYYY-MM') AS month, count(*) AS rows FROM user_logins
    WHERE create_date < ${firstDay(before)}::date GROUP BY 1`;
  const rows = new Map(counted.map((row) => [row.month, Number(row.rows)]));
  for (const { month } of await monthPartitions(db)) {
    if (month < before && !rows.has(month)) rows.set(month, 0);
  }
  return [...rows].sort(([a], [b]) => a < b ? -1 : 1).map(([month, rows]) => ({ month, rows }));
}

/**
 * Moves the rows dated before `before` that the default partition holds into partitions of their
 * months, so that nothing old hides from the archive; returns the months it created.
 */
export async function partitionOldRows(db: Database, before: Month): Promise<Month[]> {
  const months = await db<{ month: string }[]>`
    SELECT DISTINCT to_char(create_date, 'YYYY-MM') AS month FROM user_logins_default
    WHERE create_date < ${firstDay(before)}::date`;
  return await ensureMonthPartitions(db, months.map((row) => row.month));
}

/** The number of rows in `month`'s partition; undefined when it has none. */
export async function partitionRows(db: Database, month: Month): Promise<number | undefined> {
  const partitions = await monthPartitions(db);
  if (!partitions.some((p) => p.month === month)) return undefined;
  const [row] = await db<{ rows: string }[]>`
    SELECT count(*) AS rows FROM ${db(partitionTable(month))}`;
  return Number(row?.rows ?? 0);
}

/** Drops `month`'s partition, which must be empty; false when it holds rows. */
export async function dropEmptyPartition(db: Database, month: Month): Promise<boolean> {
  return await db.begin(async (tx) => {
    const table = partitionTable(month);
    await tx`SELECT set_config('lock_timeout', ${MONTH_LOCK_TIMEOUT}, true)`;
    await tx`LOCK TABLE ${tx(table)} IN SHARE MODE`;
    const [row] = await tx<{ any: boolean }[]>`SELECT EXISTS (SELECT FROM ${tx(table)}) AS any`;
    if (row?.any) return false;
    await tx`DROP TABLE ${tx(table)}`;
    return true;
  });
}

/**
 * The rows of `month`'s partition in chunks of `chunkRows`, ordered by date and message id, read
 * through one cursor in `tx` (one snapshot).
 */
export async function* monthRows(
  tx: Transaction,
  month: Month,
  chunkRows: number,
): AsyncGenerator<ArchivedLogin[]> {
  const cursor = tx<ArchivedLogin[]>`
    SELECT user_id, device_type, masked_ip, masked_device_id, locale, app_version,
           create_date::text AS create_date, message_id
    FROM ${tx(partitionTable(month))}
    ORDER BY create_date, message_id`.cursor(chunkRows);
  for await (const rows of cursor) yield rows;
}

/**
 * The checksum of `month`'s partition computed by the server, the same function of the rows as
 * `rowChecksum()`: the count, and the sum of the first 60 bits of each row's SHA-256 over its
 * `json_build_array` text.
 */
export async function monthChecksum(
  db: Database | Transaction,
  month: Month,
): Promise<RowChecksum> {
  const [row] = await db<{ rows: string; checksum: string }[]>`
    SELECT count(*) AS rows, coalesce(sum(('x' || left(encode(sha256(convert_to(json_build_array(
             user_id, device_type, masked_ip, masked_device_id, locale, app_version, create_date,
             message_id)::text, 'UTF8')), 'hex'), 15))::bit(60)::bigint), 0)::text AS checksum
    FROM ${db(partitionTable(month))}`;
  return { rows: Number(row?.rows ?? 0), checksum: row?.checksum ?? "0" };
}

/**
 * In one transaction: blocks writes to `month`'s partition, checks that its rows still have the
 * count and checksum that `entry` recorded for its verified object, then drops the partition and
 * marks the month archived. When the rows changed, marks the month for export again and returns
 * false, dropping nothing.
 */
export async function dropArchivedMonth(db: Database, entry: ManifestEntry): Promise<boolean> {
  return await db.begin(async (tx) => {
    const table = partitionTable(entry.month);
    await tx`SELECT set_config('lock_timeout', ${MONTH_LOCK_TIMEOUT}, true)`;
    await tx`LOCK TABLE ${tx(table)} IN SHARE MODE`;
    const now = await monthChecksum(tx, entry.month);
    if (now.rows !== entry.rowCount || now.checksum !== entry.checksum) {
      await recordManifest(tx, { ...entry, state: "exporting" });
      return false;
    }
    await tx`DROP TABLE ${tx(table)}`;
    await tx`
      UPDATE archive_manifest SET state = 'archived', archived_at = now(), updated_at = now()
      WHERE month = ${firstDay(entry.month)}::date`;
    return true;
  });
}

/**
 * In one transaction: makes `entry.month`'s partition (it must hold no rows), inserts `rows`,
 * checks the partition's count and checksum against `entry`, and marks the month restored. Any
 * failure rolls it all back.
 */
export async function restoreMonthRows(
  db: Database,
  entry: ManifestEntry,
  rows: AsyncIterable<readonly ArchivedLogin[]>,
): Promise<number> {
  return await db.begin(async (tx) => {
    await tx`SELECT set_config('lock_timeout', ${MONTH_LOCK_TIMEOUT}, true)`;
    await tx`SELECT vaultline_ensure_login_partition(${firstDay(entry.month)}::date)`;
    const table = partitionTable(entry.month);
    await tx`LOCK TABLE ${tx(table)} IN SHARE ROW EXCLUSIVE MODE`;
    const [held] = await tx<{ any: boolean }[]>`SELECT EXISTS (SELECT FROM ${tx(table)}) AS any`;
    if (held?.any) {
      throw new Error(
        `Cannot restore "${entry.month}": its partition ${table} already holds rows`,
      );
    }
    for await (const chunk of rows) {
      if (chunk.length === 0) continue;
      const outside = chunk.find((row) =>
        row.createDate === null || monthOf(row.createDate) !== entry.month
      );
      if (outside) {
        throw new Error(
          `Cannot restore "${entry.month}": the archive holds a row of another month`,
        );
      }
      await tx`
        INSERT INTO ${tx(table)} ${
        tx(
          chunk,
          "userId",
          "deviceType",
          "maskedIp",
          "maskedDeviceId",
          "locale",
          "appVersion",
          "createDate",
          "messageId",
        )
      }`;
    }
    const restored = await monthChecksum(tx, entry.month);
    if (restored.rows !== entry.rowCount || restored.checksum !== entry.checksum) {
      throw new Error(
        `Cannot restore "${entry.month}": the restored rows do not match the manifest's count and checksum`,
      );
    }
    await tx`
      UPDATE archive_manifest SET state = 'restored', restored_at = now(), updated_at = now()
      WHERE month = ${firstDay(entry.month)}::date`;
    return restored.rows;
  });
}

/**
 * Deletes the `ingest_quarantine` rows received more than `days` days ago and records the run in
 * `retention_audit`, in one transaction; with `dryRun`, only counts them. The reveal audit is
 * never touched.
 */
export async function purgeQuarantine(
  db: Database,
  { days, osUser, dryRun }: { days: number; osUser: string; dryRun: boolean },
): Promise<{ rows: number; olderThan: Date }> {
  return await db.begin(async (tx) => {
    const [cutoff] = await tx<{ olderThan: Date }[]>`
      SELECT now() - make_interval(days => ${days}::int) AS older_than`;
    const olderThan = cutoff!.olderThan;
    if (dryRun) {
      const [row] = await tx<{ rows: string }[]>`
        SELECT count(*) AS rows FROM ingest_quarantine WHERE received_at < ${olderThan}`;
      return { rows: Number(row?.rows ?? 0), olderThan };
    }
    const [row] = await tx<{ rows: string }[]>`
      WITH gone AS (DELETE FROM ingest_quarantine WHERE received_at < ${olderThan} RETURNING 1)
      SELECT count(*) AS rows FROM gone`;
    const rows = Number(row?.rows ?? 0);
    await tx`
      INSERT INTO retention_audit (os_user, table_name, older_than, deleted)
      VALUES (${osUser}, 'ingest_quarantine', ${olderThan}, ${rows})`;
    return { rows, olderThan };
  });
}

interface ManifestRow {
  month: string;
  state: ManifestState;
  bucket: string;
  objectKey: string;
  rowCount: string | null;
  checksum: string | null;
  objectSize: string | null;
  etag: string | null;
}

function fromRow(row: ManifestRow): ManifestEntry {
  const number = (value: string | null) => value === null ? null : Number(value);
  return {
    month: row.month,
    state: row.state,
    bucket: row.bucket,
    objectKey: row.objectKey,
    rowCount: number(row.rowCount),
    checksum: row.checksum,
    objectSize: number(row.objectSize),
    etag: row.etag,
  };
}
