/** `vaultline archive`: move old months of user_logins to S3 as Parquet; quarantine retention. */
import {
  type ArchivedMonth,
  type ArchiveEvent,
  archiveMonths,
  checkBefore,
  requirePartitions,
} from "../archive/archiver.ts";
import { parseS3Url, type S3Location, s3Url } from "../archive/s3_archive.ts";
import { ConfigError } from "../config_error.ts";
import { isMonth, type Month } from "../record/month.ts";
import { readSettings, type Settings } from "../settings.ts";
import { monthsBefore, purgeQuarantine } from "../store/archive.ts";
import { closeDatabase, connectDatabase } from "../store/database.ts";
import { migrate } from "../store/migrate.ts";
import { asString, defineCommand, parseInteger, parseOptions } from "./command.ts";
import { openArchiveServices } from "./services.ts";

/** What `archive` was asked to do. */
export interface ArchiveOptions {
  readonly settings: Settings;
  /** The months before this one move to `to`; undefined when only retention runs. */
  readonly months: { readonly before: Month; readonly to: S3Location } | undefined;
  /** Delete quarantine rows received more than this many days ago. */
  readonly quarantineDays: number | undefined;
  readonly dryRun: boolean;
  readonly json: boolean;
}

/** What the summary reports of a month. */
interface MonthLine {
  readonly month: Month;
  readonly rows: number;
  readonly bytes?: number;
  readonly url?: string;
}

export const archive = defineCommand<ArchiveOptions>({
  name: "archive",
  summary: "Move old months of user_logins to S3 as Parquet; delete old quarantine rows",
  help: `Usage: vaultline archive --before YYYY-MM --to s3://BUCKET/PREFIX [--quarantine-days N]
       vaultline archive --quarantine-days N
       vaultline archive restore --month YYYY-MM --from s3://BUCKET/PREFIX

Moves each whole month of user_logins before --before to S3, one Parquet file a month at
PREFIX/user_logins/month=YYYY-MM/part-0.parquet (tokens only: the vault stays in Postgres,
so reveal keeps working). Each file is read back and checked (row count and checksum)
before the month's partition is dropped, and archive_manifest records each month's state:
killed at any point, run it again and every row ends exactly once, in Postgres or in S3.
A month can move 14 days after it ends, when SQS can no longer deliver its messages.

Options:
  --before YYYY-MM        move the months before this one
  --to s3://BUCKET/PREFIX where the files go (S3_ENDPOINT for an S3-compatible store)
  --quarantine-days N     delete ingest_quarantine rows received more than N days ago,
                          recorded in retention_audit (reveal_audit is never deleted)
  --dry-run               say what would move and be deleted; change nothing
  --json                  print the summary as one JSON object on stdout
  -h, --help              show this help`,

  parse(args, env) {
    const values = parseOptions(args, {
      before: { type: "string" },
      to: { type: "string" },
      "quarantine-days": { type: "string" },
      "dry-run": { type: "boolean" },
      json: { type: "boolean" },
    });
    const before = asString(values.before);
    const to = asString(values.to);
    if (before !== undefined && !isMonth(before)) {
      throw new ConfigError(`Invalid --before "${before}": expected a month as YYYY-MM`);
    }
    if (before !== undefined && to === undefined) {
      throw new ConfigError("Missing --to: --before needs the S3 location to move the months to");
    }
    if (to !== undefined && before === undefined) {
      throw new ConfigError("Missing --before: --to needs the month before which rows move");
    }
    const days = asString(values["quarantine-days"]);
    if (before === undefined && days === undefined) {
      throw new ConfigError("Nothing to do: give --before and --to, or --quarantine-days");
    }
    return {
      settings: readSettings(env),
      months: before === undefined || to === undefined
        ? undefined
        : { before, to: parseS3Url("--to", to) },
      quarantineDays: days === undefined
        ? undefined
        : parseInteger("--quarantine-days", days, { min: 1, max: 36_500, fallback: 0 }),
      dryRun: values["dry-run"] === true,
      json: values.json === true,
    };
  },

  async execute(options) {
    const log = (line: string) => console.error(`vaultline: ${line}`);
    if (options.months) checkBefore(options.months.before, new Date());
    await using services = await openArchiveServices(options.settings);
    // One connection holds the archive's lock, the other does the work.
    const db = connectDatabase(services.databaseUrl, { max: 2 });
    const progress = progressLine();
    try {
      await migrate(db);
      let months: MonthLine[] = [];
      if (options.months) {
        const { before, to } = options.months;
        await requirePartitions(db);
        if (options.dryRun) {
          months = (await monthsBefore(db, before)).filter((m) => m.rows > 0);
        } else {
          services.prepareBucket(to.bucket);
          months = await archiveMonths({
            db,
            s3: services.s3,
            onEvent: (event) => {
              progress.onEvent(event);
              const line = describeEvent(event);
              if (line !== undefined) {
                progress.clear();
                log(line);
              }
            },
          }, { before, to });
        }
      }
      const purged = options.quarantineDays === undefined ? undefined : await purgeQuarantine(db, {
        days: options.quarantineDays,
        osUser: options.settings.osUser,
        dryRun: options.dryRun,
      });
      progress.clear();
      if (options.json) {
        console.log(JSON.stringify({
          dryRun: options.dryRun,
          months,
          ...(purged ? { quarantine: purged } : {}),
        }));
      } else {
        console.log(describeSummary(options, months, purged));
      }
      return 0;
    } finally {
      progress.clear();
      await closeDatabase(db);
    }
  },
});

function describeEvent(event: ArchiveEvent): string | undefined {
  switch (event.type) {
    case "archived":
      return `Archived ${event.month}: ${event.rows} rows, ${size(event.bytes)}, to ${event.url}`;
    case "skipped":
      return `Skipped ${event.month}: ${event.reason}`;
  }
  return undefined;
}

function describeSummary(
  options: ArchiveOptions,
  months: readonly (MonthLine | ArchivedMonth)[],
  purged: { rows: number; olderThan: Date } | undefined,
): string {
  const lines: string[] = [];
  if (options.months) {
    const { before, to } = options.months;
    const where = s3Url(to.bucket, to.prefix);
    const rows = months.reduce((sum, m) => sum + m.rows, 0);
    if (months.length === 0) lines.push(`Nothing to archive before ${before}`);
    else {
      lines.push(
        `${options.dryRun ? "Would archive" : "Archived"} ${months.length} months, ${rows} rows, ` +
          `to ${where}`,
      );
      for (const m of months) {
        const detail = m.bytes === undefined ? "" : `  ${size(m.bytes).padStart(9)}  ${m.url}`;
        lines.push(`  ${m.month}  ${String(m.rows).padStart(10)} rows${detail}`);
      }
    }
  }
  if (purged) {
    lines.push(
      `${options.dryRun ? "Would delete" : "Deleted"} ${purged.rows} ingest_quarantine rows ` +
        `received before ${purged.olderThan.toISOString()}` +
        (options.dryRun ? "" : " (recorded in retention_audit)"),
    );
  }
  return lines.join("\n");
}

function size(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 ** 2) return `${(bytes / 1024).toFixed(1)} KiB`;
  if (bytes < 1024 ** 3) return `${(bytes / 1024 ** 2).toFixed(1)} MiB`;
  return `${(bytes / 1024 ** 3).toFixed(2)} GiB`;
}

/** A live line on stderr while it is a terminal: the month, its place, and its rows so far. */
function progressLine({ live = Deno.stderr.isTerminal() } = {}) {
  const encoder = new TextEncoder();
  let current: { month: Month; index: number; total: number; rows: number } | undefined;
  let shown = false;
  const draw = (done: number) => {
    if (!live || !current) return;
    const line = `archive ${current.month} (${current.index} of ${current.total} months): ` +
      `${done} of ${current.rows} rows`;
    Deno.stderr.writeSync(encoder.encode(`\r\x1b[2K${line}`));
    shown = true;
  };
  return {
    onEvent(event: ArchiveEvent) {
      if (event.type === "month") {
        current = event;
        draw(0);
      } else if (event.type === "exported") draw(event.rows);
    },
    clear() {
      if (shown) Deno.stderr.writeSync(encoder.encode("\r\x1b[2K"));
      shown = false;
    },
  };
}
