/** `vaultline quarantine replay`: write what today's record rules accept, audited. */
import { ConfigError } from "../config_error.ts";
import { replayQuarantine } from "../ingest/replay_quarantine.ts";
import { keyringPath, readSettings, type Settings } from "../settings.ts";
import { closeDatabase, connectDatabase } from "../store/database.ts";
import { dataKeySource } from "../ingest/data_keys.ts";
import { asString, defineCommand, parseOptions } from "./command.ts";
import { loadKeyring, openDatabase } from "./services.ts";

/** What `quarantine replay` was asked to do. */
export interface QuarantineReplayOptions {
  readonly settings: Settings;
  readonly keyringPath: string;
  readonly reason: string;
  readonly matching: string | undefined;
  readonly json: boolean;
}

export const quarantineReplay = defineCommand<QuarantineReplayOptions>({
  name: "quarantine replay",
  summary: "Decrypt quarantined messages and write those today's rules accept, audited",
  help:
    `Usage: vaultline quarantine replay --reason TEXT [--matching TEXT] [--keyring FILE] [--json]

Decrypts the quarantined bodies (the full keyring is needed), applies today's record rules,
and writes the messages that now pass to user_logins, each exactly once, removing them from
ingest_quarantine in the same transaction. The others stay quarantined. Before any body is
decrypted, the replay is recorded in the audit with the reason and the message ids.

Options:
  --reason TEXT     why the bodies are decrypted (required, recorded in the audit)
  --matching TEXT   only messages whose quarantine reason contains TEXT
  --keyring FILE    full keyring (default VAULT_KEYRING; sandbox: .data/keyring.json)
  --json            print the summary as one JSON object
  -h, --help        show this help`,

  parse(args, env) {
    const values = parseOptions(args, {
      reason: { type: "string" },
      matching: { type: "string" },
      keyring: { type: "string" },
      json: { type: "boolean" },
    });
    const reason = asString(values.reason)?.trim() ?? "";
    if (reason === "") {
      throw new ConfigError(
        "Missing --reason: a replay decrypts bodies and must say why, for the audit",
      );
    }
    const settings = readSettings(env);
    return {
      settings,
      keyringPath: keyringPath(settings, {
        flag: asString(values.keyring),
        sandboxName: "keyring.json",
        kind: "full keyring",
      }),
      reason,
      matching: asString(values.matching),
      json: values.json === true,
    };
  },

  async execute(options) {
    const keyring = await loadKeyring(options.keyringPath, { kind: "full" });
    await using database = await openDatabase(options.settings);
    const db = connectDatabase(database.url, { max: 1 });
    try {
      const summary = await replayQuarantine(db, {
        keyring,
        vault: { tokenKey: keyring.tokenKey, dataKey: dataKeySource(keyring.keks[0]) },
        reason: options.reason,
        osUser: options.settings.osUser,
        matching: options.matching,
      });
      if (options.json) console.log(JSON.stringify(summary));
      else {
        console.log(
          [
            `Replayed ${summary.examined} quarantined messages`,
            `  written         ${summary.written} to user_logins`,
            `  already there   ${summary.alreadyWritten} (their quarantine rows removed)`,
            `  still rejected  ${summary.stillRejected} by today's record rules, left quarantined`,
            `  refused         ${summary.refused} by the database, left quarantined`,
          ].join("\n"),
        );
      }
      return 0;
    } finally {
      await closeDatabase(db);
    }
  },
});
