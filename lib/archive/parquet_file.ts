/**
 * `user_logins` rows as a Parquet file: written a row group per chunk with hyparquet-writer,
 * read back a row group at a time with hyparquet, so a month of any size stays out of memory.
 */
import { asyncBufferFromFile, parquetMetadataAsync, parquetReadObjects } from "hyparquet";
import type { SchemaElement } from "hyparquet";
import { fileWriter, ParquetWriter } from "hyparquet-writer";
import type { ArchivedLogin, RowChecksum } from "../store/archive.ts";
import { ChecksumAccumulator } from "./row_checksum.ts";

const DAY_MS = 86_400_000;

const STRING = { type: "BYTE_ARRAY", converted_type: "UTF8", repetition_type: "OPTIONAL" } as const;

/** The file's columns: exactly `user_logins`'s, with their Parquet types. */
const SCHEMA: SchemaElement[] = [
  { name: "root", num_children: 8 },
  { name: "user_id", ...STRING },
  { name: "device_type", ...STRING },
  { name: "masked_ip", ...STRING },
  { name: "masked_device_id", ...STRING },
  { name: "locale", ...STRING },
  { name: "app_version", type: "INT32", repetition_type: "OPTIONAL" },
  { name: "create_date", type: "INT32", converted_type: "DATE", repetition_type: "OPTIONAL" },
  { name: "message_id", ...STRING },
];

/** Writes the rows of `chunks` to a Parquet file at `path`; returns their checksum. */
export async function writeLoginsParquet(
  path: string,
  chunks: AsyncIterable<readonly ArchivedLogin[]>,
  { onChunk }: { onChunk?: (rows: number) => void } = {},
): Promise<RowChecksum> {
  const writer = new ParquetWriter({
    writer: fileWriter(path),
    schema: SCHEMA,
    createdBy: "vaultline archive",
  });
  const checksum = new ChecksumAccumulator();
  for await (const rows of chunks) {
    if (rows.length === 0) continue;
    checksum.add(rows);
    await writer.write({
      rowGroupSize: rows.length,
      columnData: [
        { name: "user_id", data: rows.map((r) => r.userId) },
        { name: "device_type", data: rows.map((r) => r.deviceType) },
        { name: "masked_ip", data: rows.map((r) => r.maskedIp) },
        { name: "masked_device_id", data: rows.map((r) => r.maskedDeviceId) },
        { name: "locale", data: rows.map((r) => r.locale) },
        { name: "app_version", data: rows.map((r) => r.appVersion) },
        { name: "create_date", data: rows.map((r) => r.createDate && days(r.createDate)) },
        { name: "message_id", data: rows.map((r) => r.messageId) },
      ],
    });
    onChunk?.(rows.length);
  }
  await writer.finish();
  return checksum.result;
}

/** The rows of the Parquet file at `path`, a row group at a time. */
export async function* readLoginsParquet(path: string): AsyncGenerator<ArchivedLogin[]> {
  const file = await asyncBufferFromFile(path);
  const metadata = await parquetMetadataAsync(file);
  const columns = SCHEMA.slice(1).map((element) => element.name);
  const names = metadata.schema.slice(1).map((element) => element.name);
  if (names.join() !== columns.join()) {
    throw new Error(
      `Cannot read "${path}": its columns are not user_logins's: ${names.join(", ")}`,
    );
  }
  let start = 0;
  for (const group of metadata.row_groups) {
    const end = start + Number(group.num_rows);
    const rows: Record<string, unknown>[] = await parquetReadObjects({
      file,
      metadata,
      columns,
      rowStart: start,
      rowEnd: end,
    });
    yield rows.map((row): ArchivedLogin => ({
      userId: text(row.user_id),
      deviceType: text(row.device_type),
      maskedIp: text(row.masked_ip),
      maskedDeviceId: text(row.masked_device_id),
      locale: text(row.locale),
      appVersion: typeof row.app_version === "number" ? row.app_version : null,
      createDate: row.create_date instanceof Date
        ? row.create_date.toISOString().slice(0, 10)
        : null,
      messageId: text(row.message_id),
    }));
    start = end;
  }
}

function text(value: unknown): string | null {
  return typeof value === "string" ? value : null;
}

/** Days since 1970-01-01 of a date `YYYY-MM-DD`: Parquet's DATE. */
function days(date: string): number {
  return Math.round(Date.parse(`${date}T00:00:00Z`) / DAY_MS);
}
