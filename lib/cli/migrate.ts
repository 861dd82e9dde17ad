/** `vaultline migrate`: apply the schema as its owner, and set the reveal policy. */
import { readSettings, type Settings } from "../settings.ts";
import { closeDatabase, connectDatabase } from "../store/database.ts";
import { migrate as applyMigrations, MIGRATIONS } from "../store/migrate.ts";
import { ensureUpcomingPartitions } from "../store/partitions.ts";
import { refusal } from "../store/refusal.ts";
import { type RevealPolicy, setRevealPolicy } from "../store/reveal_policy.ts";
import { defineCommand, parseOptions } from "./command.ts";
import { openDatabase } from "./services.ts";

/** What `migrate` was asked to do. */
export interface MigrateOptions {
  readonly settings: Settings;
}

export const migrate = defineCommand<MigrateOptions>({
  name: "migrate",
  summary: "Apply the schema (tables, roles, functions) as its owner; set the reveal policy",
  help: `Usage: vaultline migrate

Applies the migrations in sql/ that DATABASE_URL's database lacks, as its user: the schema
owner, which needs CREATEROLE the first time unless the vaultline roles exist. Safe to run
twice or from two processes at once. Makes this month's and next month's partitions of
user_logins (PostgreSQL 11 and later), then sets the reveal policy the database enforces on
every reveal and erasure, from the environment (unset means the default), and records a
change in the audit:

  VAULT_REASON_MIN_CHARS   visible characters a reason needs (default 8)
  VAULT_REASON_PATTERN     a PostgreSQL regular expression every reason must match
                           (default none), e.g. '^[A-Z]+-[0-9]+: '
  VAULT_BULK_LIMIT         tokens one reveal may name without --bulk (default 1000)

In the sandbox it works on .data/postgres.

Options:
  -h, --help       show this help`,

  parse(args, env) {
    parseOptions(args, {});
    return { settings: readSettings(env) };
  },

  async execute(options) {
    await using database = await openDatabase(options.settings, { create: true });
    const db = connectDatabase(database.url, { max: 1 });
    try {
      const applied = await applyMigrations(db).catch((error) => {
        throw refusal(error, "run it as the schema owner");
      });
      const names = MIGRATIONS.filter((m) => applied.includes(m.version)).map((m) => m.name);
      const latest = MIGRATIONS.at(-1)?.name ?? "";
      console.log(
        names.length > 0
          ? `Applied ${names.join(", ")}`
          : `Nothing to apply: the schema is current (${latest})`,
      );
      // This month's and next month's partitions of user_logins, for a migrate run by cron too.
      const made = await ensureUpcomingPartitions(db, new Date());
      if (made.length > 0) console.log(`Created the user_logins partitions of ${made.join(", ")}`);
      const policy = options.settings.revealPolicy;
      const changed = await setRevealPolicy(db, policy);
      console.log(
        `${describePolicy(policy)}${changed ? " (changed, recorded in the audit)" : ""}`,
      );
      return 0;
    } finally {
      await closeDatabase(db);
    }
  },
});

/** The policy in one line. */
export function describePolicy(policy: RevealPolicy): string {
  const pattern = policy.reasonPattern === null ? "" : `, matching "${policy.reasonPattern}"`;
  return `Reveal policy: a reason needs ${policy.minReasonChars} visible characters${pattern}; ` +
    `more than ${policy.bulkLimit} tokens need --bulk`;
}
