/** `vaultline reveal`: recover originals of tokens, with a reason, audited. */
import { ConfigError } from "../config_error.ts";
import { keyringPath, readSettings, type Settings } from "../settings.ts";
import { closeDatabase, connectDatabase } from "../store/database.ts";
import { revealWithAudit } from "../store/reveal.ts";
import { openEntries } from "../vault/open_entries.ts";
import { asString, defineCommand, parseOptions } from "./command.ts";
import { loadKeyring, openDatabase } from "./services.ts";

/** What `reveal` was asked to do. */
export interface RevealOptions {
  readonly settings: Settings;
  readonly keyringPath: string;
  readonly tokens: readonly string[];
  readonly reason: string;
  readonly allowReadableKeyring: boolean;
}

export const reveal = defineCommand<RevealOptions>({
  name: "reveal",
  summary: "Recover original values of tokens, with a reason, audited",
  help: `Usage: vaultline reveal --token TOKEN [--token TOKEN ...] --reason TEXT [--keyring FILE]

Prints one JSON line per token: {"token", "field", "value"}. Needs the full keyring.
Every reveal is recorded in reveal_audit before anything is printed.

Options:
  --token TOKEN    a masked_ip or masked_device_id value; repeat for several
  --reason TEXT    why the originals are needed (required, recorded in the audit)
  --keyring FILE   full keyring (default VAULT_KEYRING; sandbox: .data/keyring.json)
  --allow-readable-keyring
                   use a full keyring that group or others may read
  -h, --help       show this help`,

  parse(args, env) {
    const values = parseOptions(args, {
      token: { type: "string", multiple: true },
      reason: { type: "string" },
      keyring: { type: "string" },
      "allow-readable-keyring": { type: "boolean" },
    });
    const tokens = (values.token ?? []).filter((token): token is string =>
      typeof token === "string"
    );
    if (tokens.length === 0) throw new ConfigError("Missing --token: name at least one token");
    const reason = asString(values.reason)?.trim() ?? "";
    if (reason === "") {
      throw new ConfigError("Missing --reason: every reveal must say why, for the audit");
    }
    const settings = readSettings(env);
    return {
      settings,
      keyringPath: keyringPath(settings, {
        flag: asString(values.keyring),
        sandboxName: "keyring.json",
        kind: "full keyring",
      }),
      tokens,
      reason,
      allowReadableKeyring: values["allow-readable-keyring"] === true,
    };
  },

  async execute(options) {
    using keyring = await loadKeyring(options.keyringPath, {
      kind: "full",
      kms: options.settings.kms,
      allowReadable: options.allowReadableKeyring,
    });
    await using database = await openDatabase(options.settings);
    const db = connectDatabase(database.url, { max: 1 });
    try {
      const result = await revealWithAudit(db, {
        tokens: options.tokens,
        reason: options.reason,
        osUser: options.settings.osUser,
      }, (entries) => openEntries(keyring, entries));
      for (const token of result.unknown) console.error(`vaultline: unknown token "${token}"`);
      for (const entry of result.revealed) console.log(JSON.stringify(entry));
      return result.unknown.length === 0 ? 0 : 1;
    } finally {
      await closeDatabase(db);
    }
  },
});
