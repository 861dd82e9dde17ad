/** `vaultline forget`: erase one person's originals, with a reason, audited. */
import { ConfigError } from "../config_error.ts";
import { COLUMN_WIDTH } from "../record/parse_message.ts";
import { readSettings, type Settings } from "../settings.ts";
import { closeDatabase, connectDatabase } from "../store/database.ts";
import { forgetPerson } from "../store/forget.ts";
import { asString, defineCommand, parseOptions } from "./command.ts";
import { openDatabase, prepareSchema } from "./services.ts";

/** What `forget` was asked to do. */
export interface ForgetOptions {
  readonly settings: Settings;
  readonly userId: string;
  readonly reason: string;
  readonly json: boolean;
}

export const forget = defineCommand<ForgetOptions>({
  name: "forget",
  summary: "Erase one person's originals: tombstones in user_logins, vault entries deleted",
  help: `Usage: vaultline forget --user-id ID --reason TEXT [--json]

Makes the person's originals unrecoverable, in one transaction: their rows in user_logins
keep their other columns, but their tokens become tombstones that equal nothing, and the
vault entries only their rows used are deleted (an entry another person's rows use stays).
Recorded in reveal_audit with counts, not tokens. Needs a database user with the
vaultline_revealer role; no keyring.

Options:
  --user-id ID     the person, as user_id in user_logins
  --reason TEXT    why (required, recorded in the audit; the reveal policy applies)
  --json           print the result as one JSON object
  -h, --help       show this help`,

  parse(args, env) {
    const values = parseOptions(args, {
      "user-id": { type: "string" },
      reason: { type: "string" },
      json: { type: "boolean" },
    });
    const userId = asString(values["user-id"]);
    if (userId === undefined) throw new ConfigError("Missing --user-id: name the person to forget");
    if (userId.trim() === "" || userId.length > COLUMN_WIDTH.user_id) {
      throw new ConfigError(
        `Invalid --user-id: expected 1 to ${COLUMN_WIDTH.user_id} characters, as in user_logins`,
      );
    }
    const reason = asString(values.reason)?.trim() ?? "";
    if (reason === "") {
      throw new ConfigError("Missing --reason: every erasure must say why, for the audit");
    }
    return { settings: readSettings(env), userId, reason, json: values.json === true };
  },

  async execute(options) {
    await using database = await openDatabase(options.settings);
    const db = connectDatabase(database.url, { max: 1 });
    try {
      await prepareSchema(db, options.settings);
      const result = await forgetPerson(db, {
        userId: options.userId,
        reason: options.reason,
        osUser: options.settings.osUser,
      });
      if (options.json) {
        console.log(JSON.stringify({ userId: options.userId, ...result }));
      } else {
        console.log(
          `Forgot user "${options.userId}" (audit row #${result.auditId}): ` +
            `${result.rowsForgotten} rows now hold tombstones, ` +
            `${result.entriesDeleted} vault entries deleted, ` +
            `${result.entriesKept} kept for other people's rows`,
        );
      }
      return 0;
    } finally {
      await closeDatabase(db);
    }
  },
});
