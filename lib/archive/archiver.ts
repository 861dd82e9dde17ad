/**
 * Moving whole months of `user_logins` to S3 and back, crash-safe. A month goes
 * exporting → uploaded → archived in the manifest: its rows are written to a Parquet file,
 * uploaded, read back and compared (count and checksum), and only then, in one transaction that
 * first checks the rows still match, is its partition dropped and the month marked archived.
 * Killed anywhere and run again, each step is redone or skipped by the manifest's state, so every
 * row ends exactly once, in Postgres or in S3. Restore is one transaction too.
 */
import { ConfigError } from "../config_error.ts";
import { type Month, monthOf } from "../record/month.ts";
import {
  dropArchivedMonth,
  dropEmptyPartition,
  type ManifestEntry,
  manifestEntry,
  monthRows,
  partitionOldRows,
  partitionRows,
  recordManifest,
  restoreMonthRows,
  type RowChecksum,
  withArchiveLock,
} from "../store/archive.ts";
import type { Database } from "../store/database.ts";
import { isPartitioned, monthPartitions } from "../store/partitions.ts";
import { readLoginsParquet, writeLoginsParquet } from "./parquet_file.ts";
import { ChecksumAccumulator } from "./row_checksum.ts";
import { monthKey, type S3Archive, type S3Location, s3Url } from "./s3_archive.ts";

/** SQS keeps a message at most 14 days: after that, no message of a month can still arrive. */
export const SQS_MAX_RETENTION_DAYS = 14;

/** Rows read, written and read back at a time: one Parquet row group. */
const CHUNK_ROWS = 50_000;

const DAY_MS = 86_400_000;

/** What an archive or restore reports while it runs. */
export type ArchiveEvent =
  /** Month `index` (1-based) of `total` starts; it holds `rows` rows. */
  | {
    readonly type: "month";
    readonly month: Month;
    readonly index: number;
    readonly total: number;
    readonly rows: number;
  }
  /** `rows` rows of `month` are written to its file so far. */
  | { readonly type: "exported"; readonly month: Month; readonly rows: number }
  /** `month` is in S3 and its partition dropped. */
  | {
    readonly type: "archived";
    readonly month: Month;
    readonly rows: number;
    readonly bytes: number;
    readonly url: string;
  }
  /** `month` needed nothing: `reason` says why. */
  | { readonly type: "skipped"; readonly month: Month; readonly reason: string };

/** What the archive works with. */
export interface ArchiveParts {
  readonly db: Database;
  readonly s3: S3Archive;
  readonly onEvent?: ((event: ArchiveEvent) => void) | undefined;
}

/** A month the archive moved. */
export interface ArchivedMonth {
  readonly month: Month;
  readonly rows: number;
  readonly bytes: number;
  readonly url: string;
}

/**
 * The latest `--before` that `now` allows: a month may go once SQS can no longer deliver a
 * message sent in it.
 */
export function latestBefore(now: Date): Month {
  return monthOf(new Date(now.getTime() - SQS_MAX_RETENTION_DAYS * DAY_MS));
}

/** Refuses a `--before` whose last month could still receive messages at `now`. */
export function checkBefore(before: Month, now: Date): void {
  const latest = latestBefore(now);
  if (before > latest) {
    throw new ConfigError(
      `Invalid --before "${before}": a month can move ${SQS_MAX_RETENTION_DAYS} days after it ends, ` +
        `when SQS can no longer deliver its messages; the latest today is "${latest}"`,
    );
  }
}

/** Refuses to work on a `user_logins` that is not partitioned (PostgreSQL 10). */
export async function requirePartitions(db: Database): Promise<void> {
  if (!(await isPartitioned(db))) {
    throw new ConfigError(
      "Cannot archive: user_logins is not partitioned, which needs PostgreSQL 11 or later",
    );
  }
}

/**
 * Moves every month before `before` to `to`, oldest first, and returns what it moved. Months the
 * manifest lists as archived are skipped; a month left halfway by an earlier run is finished.
 */
export async function archiveMonths(
  parts: ArchiveParts,
  { before, to, now = new Date() }: { before: Month; to: S3Location; now?: Date },
): Promise<ArchivedMonth[]> {
  checkBefore(before, now);
  await requirePartitions(parts.db);
  return await withArchiveLock(parts.db, async () => {
    await partitionOldRows(parts.db, before);
    const months = (await monthPartitions(parts.db)).filter((p) => p.month < before);
    const dir = await Deno.makeTempDir({ prefix: "vaultline-archive-" });
    try {
      const moved: ArchivedMonth[] = [];
      for (const [i, { month }] of months.entries()) {
        const done = await archiveMonth(parts, month, {
          to,
          dir,
          index: i + 1,
          total: months.length,
        });
        if (done) moved.push(done);
      }
      return moved;
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
}

/**
 * Brings `month` back from `from` into its partition, in one transaction, and then deletes its
 * object. Returns the rows restored: 0 when an earlier run restored it already.
 */
export async function restoreMonth(
  parts: ArchiveParts,
  { month, from }: { month: Month; from: S3Location },
): Promise<number> {
  await requirePartitions(parts.db);
  return await withArchiveLock(parts.db, async () => {
    const entry = await manifestEntry(parts.db, month);
    const key = monthKey(from, month);
    if (!entry) {
      throw new ConfigError(`Cannot restore "${month}": the archive manifest has no such month`);
    }
    if (entry.bucket !== from.bucket || entry.objectKey !== key) {
      throw new ConfigError(
        `Cannot restore "${month}": it was archived to "${
          s3Url(entry.bucket, entry.objectKey)
        }", not to "${s3Url(from.bucket, key)}"`,
      );
    }
    if (entry.state === "restored") {
      // Restored by an earlier run, which may have stopped before deleting the object.
      await parts.s3.delete(entry.bucket, entry.objectKey);
      return 0;
    }
    if (entry.state !== "archived") {
      throw new ConfigError(
        `Cannot restore "${month}": it is not archived (manifest state "${entry.state}"), ` +
          `its rows are in Postgres`,
      );
    }
    const dir = await Deno.makeTempDir({ prefix: "vaultline-restore-" });
    try {
      const file = `${dir}/${month}.parquet`;
      await parts.s3.download(entry.bucket, entry.objectKey, file);
      const found = await fileChecksum(file);
      if (!matches(found, entry)) {
        throw new Error(
          `Cannot restore "${month}": "${
            s3Url(entry.bucket, entry.objectKey)
          }" holds ${found.rows} rows that do not match the manifest's ${entry.rowCount}`,
        );
      }
      const rows = await restoreMonthRows(parts.db, entry, readLoginsParquet(file));
      await parts.s3.delete(entry.bucket, entry.objectKey);
      return rows;
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
}

async function archiveMonth(
  parts: ArchiveParts,
  month: Month,
  { to, dir, index, total }: { to: S3Location; dir: string; index: number; total: number },
): Promise<ArchivedMonth | undefined> {
  const { db, s3 } = parts;
  const emit = (event: ArchiveEvent) => parts.onEvent?.(event);
  const earlier = await manifestEntry(db, month);
  if (earlier?.state === "archived") {
    // Archived, yet its partition is back: made empty by a partition-ensuring call, or holding
    // rows that arrived after the archive (which would then be in both places).
    if (await dropEmptyPartition(db, month)) {
      emit({ type: "skipped", month, reason: "archived already; dropped its empty partition" });
      return undefined;
    }
    throw new Error(
      `Cannot archive "${month}": it is archived already, yet its partition holds rows; ` +
        `restore the month, then archive it again`,
    );
  }
  emit({ type: "month", month, index, total, rows: (await partitionRows(db, month)) ?? 0 });
  const key = monthKey(to, month);
  for (let attempt = 1; attempt <= 2; attempt++) {
    let entry = await manifestEntry(db, month);
    const reusable = entry?.state === "uploaded" && entry.bucket === to.bucket &&
      entry.objectKey === key;
    if (!entry || !reusable) entry = await exportMonth(parts, month, { to, key, dir });
    // The object must still be the one verified: a rerun may come long after the upload.
    const object = await s3.head(entry.bucket, entry.objectKey);
    if (object?.etag !== entry.etag || object?.size !== entry.objectSize) {
      await recordManifest(db, { ...entry, state: "exporting" });
      continue;
    }
    if (await dropArchivedMonth(db, entry)) {
      const done = {
        month,
        rows: entry.rowCount ?? 0,
        bytes: entry.objectSize ?? 0,
        url: s3Url(entry.bucket, entry.objectKey),
      };
      emit({ type: "archived", ...done });
      return done;
    }
  }
  throw new Error(
    `Cannot archive "${month}": its rows or its object changed while it was being archived; ` +
      `run the archive again`,
  );
}

/** Writes `month` to a file, uploads it, reads it back and compares; records it uploaded. */
async function exportMonth(
  parts: ArchiveParts,
  month: Month,
  { to, key, dir }: { to: S3Location; key: string; dir: string },
): Promise<ManifestEntry> {
  const { db, s3 } = parts;
  const started: ManifestEntry = {
    month,
    state: "exporting",
    bucket: to.bucket,
    objectKey: key,
    rowCount: null,
    checksum: null,
    objectSize: null,
    etag: null,
  };
  await recordManifest(db, started);
  const file = `${dir}/${month}.parquet`;
  const readBack = `${dir}/${month}.read-back.parquet`;
  try {
    let rows = 0;
    const exported = await db.begin(
      "read only",
      (tx) =>
        writeLoginsParquet(file, monthRows(tx, month, CHUNK_ROWS), {
          onChunk: (count) => parts.onEvent?.({ type: "exported", month, rows: rows += count }),
        }),
    );
    const uploaded = await s3.upload(to.bucket, key, file);
    await s3.download(to.bucket, key, readBack);
    const found = await fileChecksum(readBack);
    if (found.rows !== exported.rows || found.checksum !== exported.checksum) {
      throw new Error(
        `Cannot archive "${month}": "${s3Url(to.bucket, key)}" read back holds ${found.rows} ` +
          `rows that do not match the ${exported.rows} exported`,
      );
    }
    const entry: ManifestEntry = {
      ...started,
      state: "uploaded",
      rowCount: exported.rows,
      checksum: exported.checksum,
      objectSize: uploaded.size,
      etag: uploaded.etag,
    };
    await recordManifest(db, entry);
    return entry;
  } finally {
    await Deno.remove(file).catch(() => {});
    await Deno.remove(readBack).catch(() => {});
  }
}

/** The checksum of the rows of the Parquet file at `path`. */
async function fileChecksum(path: string): Promise<RowChecksum> {
  const checksum = new ChecksumAccumulator();
  for await (const rows of readLoginsParquet(path)) checksum.add(rows);
  return checksum.result;
}

function matches(found: RowChecksum, entry: ManifestEntry): boolean {
  return found.rows === entry.rowCount && found.checksum === entry.checksum;
}
