/** `vaultline audit list`: who revealed or erased what, and why: tokens and counts, never values. */
import { ConfigError } from "../config_error.ts";
import { readSettings, type Settings } from "../settings.ts";
import { auditRows } from "../store/audit.ts";
import { closeDatabase, connectDatabase } from "../store/database.ts";
import type { AuditRecord } from "../vault/audit_chain.ts";
import { asString, defineCommand, parseOptions } from "./command.ts";
import { openDatabase, prepareSchema } from "./services.ts";

/** What `audit list` was asked to do. */
export interface AuditListOptions {
  readonly settings: Settings;
  readonly since: Date | undefined;
  readonly json: boolean;
}

/** Tokens a text line names before it says how many more there are. */
const TOKENS_SHOWN = 3;

export const auditList = defineCommand<AuditListOptions>({
  name: "audit list",
  summary: "Show the audit: who revealed or erased what, and why",
  help: `Usage: vaultline audit list [--since DATE] [--json]

Prints reveal_audit in id order, one line per row: its time, kind (reveal, reveal_failed,
forget, policy, ...), the database user (the identity) and the OS user it claimed, the
tokens and counts, and the reason. Never a value. Needs the vaultline_auditor role.

Options:
  --since DATE   only rows from DATE on: 2026-11-25 (UTC) or 2026-11-25T12:00:00Z
  --json         one JSON object per row, with every token
  -h, --help     show this help`,

  parse(args, env) {
    const values = parseOptions(args, { since: { type: "string" }, json: { type: "boolean" } });
    const text = asString(values.since);
    return {
      settings: readSettings(env),
      since: text === undefined ? undefined : parseSince(text),
      json: values.json === true,
    };
  },

  async execute(options) {
    await using database = await openDatabase(options.settings);
    const db = connectDatabase(database.url, { max: 1 });
    try {
      await prepareSchema(db, options.settings);
      let rows = 0;
      for await (const row of auditRows(db, options.since ? { since: options.since } : {})) {
        console.log(options.json ? JSON.stringify(auditJson(row)) : describeAuditRow(row));
        rows++;
      }
      if (rows === 0 && !options.json) console.error("vaultline: no audit rows");
      return 0;
    } finally {
      await closeDatabase(db);
    }
  },
});

/** A date or an ISO 8601 time with its zone; a `ConfigError` naming `--since` otherwise. */
export function parseSince(text: string): Date {
  const pattern = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2}))?$/;
  const date = pattern.test(text) ? new Date(text) : undefined;
  if (date === undefined || Number.isNaN(date.getTime())) {
    throw new ConfigError(
      `Invalid --since "${text}": expected a date like 2026-11-25 or a time like 2026-11-25T12:00:00Z`,
    );
  }
  return date;
}

/** A row as `--json` prints it: everything but the chain's hashes. */
export function auditJson(row: AuditRecord): Record<string, unknown> {
  const { prevHash: _prev, rowHash: _hash, ...shown } = row;
  return shown;
}

/** A row in one line. */
export function describeAuditRow(row: AuditRecord): string {
  const parts = [`#${row.id}`, row.at, row.kind, `by ${row.dbUser}`];
  if (row.osUser !== null) parts.push(`(OS user ${row.osUser})`);
  if (row.userId !== null) parts.push(`user "${row.userId}"`);
  if (row.tokenCount > 0 || row.kind === "reveal") {
    const shown = row.tokens.slice(0, TOKENS_SHOWN).join(", ");
    const more = row.tokens.length > TOKENS_SHOWN ? `, +${row.tokens.length - TOKENS_SHOWN}` : "";
    parts.push(`${row.tokenCount} tokens${row.tokenCount > 0 ? ` (${shown}${more})` : ""}`);
  }
  if (row.unknownTokens.length > 0) parts.push(`${row.unknownTokens.length} unknown`);
  if (row.bulk) parts.push("bulk");
  if (row.masked) parts.push("masked");
  if (row.refId !== null) parts.push(`of #${row.refId}`);
  if (row.detail !== null) parts.push(`: ${row.detail}`);
  parts.push(`reason ${JSON.stringify(row.reason)}`);
  return parts.join(" ");
}
