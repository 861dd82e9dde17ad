/**
 * A checksum of a set of rows that does not depend on their order: the row count, and the sum of
 * the first 60 bits of each row's SHA-256 over its canonical text. The server computes the same
 * function in SQL (`monthChecksum` in `lib/store/archive.ts`), so rows in Postgres, in a Parquet
 * file and read back from S3 compare without sorting. An integrity check, not a MAC.
 */
import { createHash } from "node:crypto";
import type { ArchivedLogin, RowChecksum } from "../store/archive.ts";

/** Bits of each row's digest that are summed: a bigint in SQL holds 63. */
const DIGEST_HEX_DIGITS = 15;

/** A running checksum: add rows in any order, read the result at any time. */
export class ChecksumAccumulator {
  #rows = 0;
  #sum = 0n;

  /** Adds `rows`. */
  add(rows: readonly ArchivedLogin[]): void {
    for (const row of rows) {
      const digest = createHash("sha256").update(canonicalRow(row)).digest("hex");
      this.#sum += BigInt(`0x${digest.slice(0, DIGEST_HEX_DIGITS)}`);
      this.#rows++;
    }
  }

  get result(): RowChecksum {
    return { rows: this.#rows, checksum: this.#sum.toString() };
  }
}

/** The checksum of `rows`. */
export function rowChecksum(rows: readonly ArchivedLogin[]): RowChecksum {
  const accumulator = new ChecksumAccumulator();
  accumulator.add(rows);
  return accumulator.result;
}

/**
 * A row as PostgreSQL prints `json_build_array(user_id, device_type, masked_ip,
 * masked_device_id, locale, app_version, create_date, message_id)`: JSON, ", " between values.
 */
export function canonicalRow(row: ArchivedLogin): string {
  const values = [
    row.userId,
    row.deviceType,
    row.maskedIp,
    row.maskedDeviceId,
    row.locale,
    row.appVersion,
    row.createDate,
    row.messageId,
  ];
  return `[${values.map((value) => JSON.stringify(value)).join(", ")}]`;
}
