/** `vaultline reveal`: recover originals of tokens or of one person, with a reason, audited. */
import { ConfigError } from "../config_error.ts";
import { COLUMN_WIDTH } from "../record/parse_message.ts";
import { keyringPath, readSettings, type Settings } from "../settings.ts";
import { closeDatabase, connectDatabase } from "../store/database.ts";
import { revealWithAudit } from "../store/reveal.ts";
import { maskValue } from "../vault/mask.ts";
import { openEntries, type Revealed } from "../vault/open_entries.ts";
import { tokenField } from "../vault/token.ts";
import { asString, defineCommand, parseOptions } from "./command.ts";
import { loadKeyring, openDatabase, prepareSchema } from "./services.ts";

/** What `reveal` was asked to do. */
export interface RevealOptions {
  readonly settings: Settings;
  readonly keyringPath: string;
  /** Tokens from `--token`, and whether more come on stdin; or one person's `--user-id`. */
  readonly subject:
    | { readonly tokens: readonly string[]; readonly stdin: boolean }
    | { readonly userId: string };
  readonly reason: string;
  readonly bulk: boolean;
  readonly masked: boolean;
  readonly format: "json" | "csv";
  readonly allowReadableKeyring: boolean;
}

export const reveal = defineCommand<RevealOptions>({
  name: "reveal",
  summary: "Recover original values of tokens or of one person, with a reason, audited",
  help:
    `Usage: vaultline reveal (--token TOKEN ... | --stdin | --user-id ID) --reason TEXT [options]

Prints one line per token: {"token", "field", "value"}. Needs the full keyring and a
database user with the vaultline_revealer role. Every reveal is recorded in reveal_audit,
and committed, before any sealed value leaves the database; each value is checked against
its token before it is shown.

Options:
  --token TOKEN    a masked_ip or masked_device_id value; repeat for several
  --stdin          read tokens from stdin, one per line (with or without --token)
  --user-id ID     every token of this person's rows in user_logins
  --reason TEXT    why the originals are needed (required, recorded in the audit; the
                   database's policy may require more, see "deno task migrate --help")
  --bulk           allow more tokens than the policy's bulk limit (default 1000); audited
  --masked         show part of each value: IPv4 to its /24, IPv6 to its /48, device_id to
                   its last 4 characters (null when that would show it whole); audited
  --format FORMAT  json (JSON lines, the default) or csv
  --keyring FILE   full keyring (default VAULT_KEYRING; sandbox: .data/keyring.json)
  --allow-readable-keyring
                   use a full keyring that group or others may read
  -h, --help       show this help`,

  parse(args, env) {
    const values = parseOptions(args, {
      token: { type: "string", multiple: true },
      stdin: { type: "boolean" },
      "user-id": { type: "string" },
      reason: { type: "string" },
      bulk: { type: "boolean" },
      masked: { type: "boolean" },
      format: { type: "string" },
      keyring: { type: "string" },
      "allow-readable-keyring": { type: "boolean" },
    });
    const tokens = (values.token ?? []).filter((token): token is string =>
      typeof token === "string"
    );
    tokens.forEach((token, i) => checkToken(token, `--token (the ${ordinal(i + 1)})`));
    const userId = asString(values["user-id"]);
    const stdin = values.stdin === true;
    if (userId !== undefined && (tokens.length > 0 || stdin)) {
      throw new ConfigError(
        "Invalid arguments: --user-id reveals one person; drop --token and --stdin",
      );
    }
    if (userId === undefined && tokens.length === 0 && !stdin) {
      throw new ConfigError("Missing --token, --stdin or --user-id: name what to reveal");
    }
    if (userId !== undefined && (userId.trim() === "" || userId.length > COLUMN_WIDTH.user_id)) {
      throw new ConfigError(
        `Invalid --user-id: expected 1 to ${COLUMN_WIDTH.user_id} characters, as in user_logins`,
      );
    }
    const reason = asString(values.reason)?.trim() ?? "";
    if (reason === "") {
      throw new ConfigError("Missing --reason: every reveal must say why, for the audit");
    }
    const format = asString(values.format) ?? "json";
    if (format !== "json" && format !== "csv") {
      throw new ConfigError(`Invalid --format "${format}": expected json or csv`);
    }
    const settings = readSettings(env);
    return {
      settings,
      keyringPath: keyringPath(settings, {
        flag: asString(values.keyring),
        sandboxName: "keyring.json",
        kind: "full keyring",
      }),
      subject: userId === undefined ? { tokens, stdin } : { userId },
      reason,
      bulk: values.bulk === true,
      masked: values.masked === true,
      format,
      allowReadableKeyring: values["allow-readable-keyring"] === true,
    };
  },

  async execute(options) {
    const { subject } = options;
    const target = "userId" in subject ? subject : {
      tokens: [...subject.tokens, ...(subject.stdin ? await readTokens(Deno.stdin.readable) : [])],
    };
    if ("tokens" in target && target.tokens.length === 0) {
      throw new ConfigError("Missing tokens: stdin held none");
    }
    using keyring = await loadKeyring(options.keyringPath, {
      kind: "full",
      kms: options.settings.kms,
      allowReadable: options.allowReadableKeyring,
    });
    await using database = await openDatabase(options.settings);
    const db = connectDatabase(database.url, { max: 1 });
    try {
      await prepareSchema(db, options.settings);
      const result = await revealWithAudit(db, {
        subject: target,
        reason: options.reason,
        osUser: options.settings.osUser,
        bulk: options.bulk,
        masked: options.masked,
      }, { open: (entries) => openEntries(keyring, entries) });
      for (const token of result.unknown) console.error(`vaultline: unknown token "${token}"`);
      if ("userId" in target && result.revealed.length === 0 && result.unknown.length === 0) {
        console.error(`vaultline: nothing to reveal: no vault entry for user "${target.userId}"`);
      }
      const lines = formatRevealed(result.revealed, options);
      if (lines.length > 0) console.log(lines.join("\n"));
      return result.unknown.length === 0 ? 0 : 1;
    } finally {
      await closeDatabase(db);
    }
  },
});

/** The lines a reveal prints: JSON lines, or CSV with a header; masked when asked. */
export function formatRevealed(
  revealed: readonly Revealed[],
  { format, masked }: { format: "json" | "csv"; masked: boolean },
): string[] {
  const shown = revealed.map(({ token, field, value }) => ({
    token,
    field,
    value: masked ? maskValue(field, value) : value,
  }));
  if (format === "json") return shown.map((entry) => JSON.stringify(entry));
  return ["token,field,value", ...shown.map((e) => [e.token, e.field, e.value].map(csv).join(","))];
}

/** Tokens read one per line; blank lines are skipped, and a line that is no token is refused. */
async function readTokens(input: ReadableStream<Uint8Array>): Promise<string[]> {
  const lines = (await new Response(input).text()).split(/\r?\n/);
  const tokens: string[] = [];
  for (const [i, line] of lines.entries()) {
    const token = line.trim();
    if (token === "") continue;
    checkToken(token, `token on line ${i + 1} of stdin`);
    tokens.push(token);
  }
  return tokens;
}

/** Refuses what is not a token; never quotes it, as a value pasted by mistake may be personal. */
function checkToken(token: string, where: string): void {
  if (tokenField(token) === undefined) {
    throw new ConfigError(
      `Invalid ${where}: expected ip or dev, a key version, "_" and 32 base64url characters`,
    );
  }
}

function ordinal(n: number): string {
  const suffix = n % 10 === 1 && n % 100 !== 11
    ? "st"
    : n % 10 === 2 && n % 100 !== 12
    ? "nd"
    : n % 10 === 3 && n % 100 !== 13
    ? "rd"
    : "th";
  return `${n}${suffix}`;
}

/** A CSV field (RFC 4180): quoted when it holds a comma, a quote or a line break; null is empty. */
function csv(value: string | null): string {
  if (value === null) return "";
  return /[",\r\n]/.test(value) ? `"${value.replaceAll('"', '""')}"` : value;
}
