/** `vaultline archive restore`: bring an archived month back into user_logins, exactly once. */
import { restoreMonth } from "../archive/archiver.ts";
import { monthKey, parseS3Url, type S3Location, s3Url } from "../archive/s3_archive.ts";
import { ConfigError } from "../config_error.ts";
import { isMonth, type Month } from "../record/month.ts";
import { readSettings, type Settings } from "../settings.ts";
import { closeDatabase, connectDatabase } from "../store/database.ts";
import { migrate } from "../store/migrate.ts";
import { partitionTable } from "../store/partitions.ts";
import { asString, defineCommand, parseOptions } from "./command.ts";
import { openArchiveServices } from "./services.ts";

/** What `archive restore` was asked to do. */
export interface ArchiveRestoreOptions {
  readonly settings: Settings;
  readonly month: Month;
  readonly from: S3Location;
}

export const archiveRestore = defineCommand<ArchiveRestoreOptions>({
  name: "archive restore",
  summary: "Bring an archived month back into user_logins, exactly once",
  help: `Usage: vaultline archive restore --month YYYY-MM --from s3://BUCKET/PREFIX

Reads the month's Parquet file from PREFIX/user_logins/month=YYYY-MM/part-0.parquet, checks
it against the count and checksum archive_manifest recorded, and inserts its rows into the
month's partition in one transaction; then deletes the object, so the rows are never in both
places. Run it again after any failure: a month is restored once.

Options:
  --month YYYY-MM         the month to bring back
  --from s3://BUCKET/PREFIX
                          where it was archived (the --to of the archive)
  -h, --help              show this help`,

  parse(args, env) {
    const values = parseOptions(args, { month: { type: "string" }, from: { type: "string" } });
    const month = asString(values.month);
    if (month === undefined) throw new ConfigError("Missing --month: name the month to restore");
    if (!isMonth(month)) {
      throw new ConfigError(`Invalid --month "${month}": expected a month as YYYY-MM`);
    }
    const from = asString(values.from);
    if (from === undefined) {
      throw new ConfigError("Missing --from: give the s3://BUCKET/PREFIX the month went to");
    }
    return { settings: readSettings(env), month, from: parseS3Url("--from", from) };
  },

  async execute(options) {
    await using services = await openArchiveServices(options.settings);
    const db = connectDatabase(services.databaseUrl, { max: 2 });
    try {
      await migrate(db);
      const rows = await restoreMonth({ db, s3: services.s3 }, options);
      const url = s3Url(options.from.bucket, monthKey(options.from, options.month));
      console.log(
        rows === 0
          ? `${options.month} was restored already: nothing added (${url} is deleted)`
          : `Restored ${options.month}: ${rows} rows into ${
            partitionTable(options.month)
          }; deleted ${url}`,
      );
      return 0;
    } finally {
      await closeDatabase(db);
    }
  },
});
