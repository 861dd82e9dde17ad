/** `vaultline keys retire`: remove a KEK from the full keyring once no data key uses it. */
import { ConfigError } from "../config_error.ts";
import { keyringPath, readSettings, type Settings } from "../settings.ts";
import { countDataKeysByKek } from "../store/data_keys.ts";
import { closeDatabase, connectDatabase } from "../store/database.ts";
import { type KeyringFile, retireKek, withKeyringLock, writeKeyrings } from "../vault/keyring.ts";
import { asString, defineCommand, parseOptions } from "./command.ts";
import { loadFullKeyringFile, openDatabase } from "./services.ts";

/** Which KEK `keys retire` retires, from which keyring. */
export interface KeysRetireOptions {
  readonly settings: Settings;
  readonly keyringPath: string;
  readonly kek: string;
  readonly allowReadableKeyring: boolean;
}

export const keysRetire = defineCommand<KeysRetireOptions>({
  name: "keys retire",
  summary: "Remove a KEK from the full keyring once no data key uses it",
  help: `Usage: vaultline keys retire --keyring FILE --kek ID

Removes the KEK's key material from the full keyring, keeping its id as "retired" for the
record. Refuses, naming how many data keys still use it, until none does ("keys rewrap" moves
them), and refuses the active KEK. Reads DATABASE_URL (or the sandbox) to count.

Options:
  --keyring FILE   the full keyring (default VAULT_KEYRING; sandbox: .data/keyring.json)
  --kek ID         the KEK to retire, as "keys list" shows it
  --allow-readable-keyring
                   use a full keyring that group or others may read
  -h, --help       show this help`,

  parse(args, env) {
    const values = parseOptions(args, {
      keyring: { type: "string" },
      kek: { type: "string" },
      "allow-readable-keyring": { type: "boolean" },
    });
    const kek = asString(values.kek);
    if (!kek) throw new ConfigError("Missing --kek: the id of the KEK to retire");
    const settings = readSettings(env);
    return {
      settings,
      keyringPath: keyringPath(settings, {
        flag: asString(values.keyring),
        sandboxName: "keyring.json",
        kind: "full keyring",
      }),
      kek,
      allowReadableKeyring: values["allow-readable-keyring"] === true,
    };
  },

  async execute(options) {
    // A KeyringError ends the run with exit 2 as it is (main.ts).
    return await withKeyringLock(options.keyringPath, () => retire(options));
  },
});

/** Retires the KEK once the database says no data key uses it. */
async function retire(options: KeysRetireOptions): Promise<number> {
  const path = options.keyringPath;
  const current = await loadFullKeyringFile(path, { allowReadable: options.allowReadableKeyring });
  let retired: KeyringFile;
  try {
    retired = retireKek(current, options.kek);
  } catch (error) {
    throw new ConfigError(`Cannot retire KEK "${options.kek}": ${(error as Error).message}`, {
      cause: error,
    });
  }
  await using database = await openDatabase(options.settings);
  const db = connectDatabase(database.url, { max: 1 });
  let inUse: number;
  try {
    inUse = (await countDataKeysByKek(db)).get(options.kek) ?? 0;
  } finally {
    await closeDatabase(db);
  }
  if (inUse > 0) {
    throw new ConfigError(
      `Cannot retire KEK "${options.kek}": ${inUse} data ${
        inUse === 1 ? "key still uses" : "keys still use"
      } it: run "keys rewrap" first`,
    );
  }
  await writeKeyrings([{ path, file: retired, replace: true }]);
  const kms = current.keks.some((k) => k.id === options.kek && "keyId" in k);
  console.error(
    `Retired KEK "${options.kek}": its key material is gone from "${path}"` +
      (kms
        ? " (it is a KMS key: schedule its deletion in KMS once backups no longer need it)"
        : ""),
  );
  console.log(options.kek);
  return 0;
}
