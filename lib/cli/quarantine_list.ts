/** `vaultline quarantine list`: what is quarantined, by reason, never a body. */
import { readSettings, type Settings } from "../settings.ts";
import { closeDatabase, connectDatabase } from "../store/database.ts";
import { countByReason, listQuarantined } from "../store/quarantine.ts";
import { asString, defineCommand, parseInteger, parseOptions } from "./command.ts";
import { openDatabase } from "./services.ts";

/** What `quarantine list` was asked to show. */
export interface QuarantineListOptions {
  readonly settings: Settings;
  readonly matching: string | undefined;
  readonly limit: number;
  readonly json: boolean;
}

export const quarantineList = defineCommand<QuarantineListOptions>({
  name: "quarantine list",
  summary: "Count quarantined messages by reason and list the latest (never their bodies)",
  help: `Usage: vaultline quarantine list [--matching TEXT] [--limit N] [--json]

Prints how many messages ingest_quarantine holds for each reason, then the most recently
received ones: message id, sent and received time, reason. Bodies stay sealed.

Options:
  --matching TEXT   only messages whose reason contains TEXT
  --limit N         messages listed, newest first (default 50; the counts cover all)
  --json            one JSON object: {"total", "byReason": [...], "messages": [...]}
  -h, --help        show this help`,

  parse(args, env) {
    const values = parseOptions(args, {
      matching: { type: "string" },
      limit: { type: "string" },
      json: { type: "boolean" },
    });
    return {
      settings: readSettings(env),
      matching: asString(values.matching),
      limit: parseInteger("--limit", asString(values.limit), {
        min: 0,
        max: 100_000,
        fallback: 50,
      }),
      json: values.json === true,
    };
  },

  async execute(options) {
    await using database = await openDatabase(options.settings);
    const db = connectDatabase(database.url, { max: 1 });
    try {
      const filter = { matching: options.matching };
      const byReason = await countByReason(db, filter);
      const messages = await listQuarantined(db, { ...filter, limit: options.limit });
      const total = byReason.reduce((sum, row) => sum + row.count, 0);
      if (options.json) {
        console.log(JSON.stringify({ total, byReason, messages }));
        return 0;
      }
      console.log(`${total} quarantined message${total === 1 ? "" : "s"}`);
      const width = Math.max(5, ...byReason.map((row) => String(row.count).length));
      for (const row of byReason) {
        console.log(`  ${String(row.count).padStart(width)}  ${row.reason}`);
      }
      if (messages.length > 0) {
        const idWidth = Math.max(10, ...messages.map((m) => m.messageId.length));
        console.log("");
        console.log(
          `${"message id".padEnd(idWidth)}  ${"sent".padEnd(24)}  ${"received".padEnd(24)}  reason`,
        );
        for (const m of messages) {
          const sent = m.sentAt?.toISOString() ?? "";
          console.log(
            `${m.messageId.padEnd(idWidth)}  ${
              sent.padEnd(24)
            }  ${m.receivedAt.toISOString()}  ${m.reason}`,
          );
        }
      }
      return 0;
    } finally {
      await closeDatabase(db);
    }
  },
});
