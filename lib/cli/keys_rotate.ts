/** `vaultline keys rotate`: add a new KEK to the full keyring and rewrite the ingest keyring. */
import { ConfigError } from "../config_error.ts";
import { keyringPath, parseKmsKeyId, readSettings, type Settings } from "../settings.ts";
import {
  checkDistinctFiles,
  importKeyring,
  KeyringError,
  type KeyringFile,
  readKeyringFile,
  rotateKeyrings,
  withKeyringLock,
  writeKeyrings,
} from "../vault/keyring.ts";
import { asString, defineCommand, parseOptions } from "./command.ts";
import { loadFullKeyringFile } from "./services.ts";

/** What `keys rotate` was asked to do. */
export interface KeysRotateOptions {
  readonly settings: Settings;
  readonly keyringPath: string;
  readonly ingestOut: string;
  readonly kmsKek: string | undefined;
  readonly allowReadableKeyring: boolean;
}

export const keysRotate = defineCommand<KeysRotateOptions>({
  name: "keys rotate",
  summary: "Add a new KEK for new data keys; older KEKs still decrypt",
  help: `Usage: vaultline keys rotate --keyring FILE --ingest-out FILE [--kms-kek KEY]

Adds a new key-encryption key (KEK) to the full keyring and rewrites the ingest keyring with
its public half; prints the new KEK's id as the last line. New data keys are wrapped under the
newest KEK once each ingest restarts with the new ingest keyring; data under older KEKs stays
readable. The token key never changes, so no token changes. Both files are written whole to
temporary files beside them, mode 0600, and renamed into place only when both are written.

Options:
  --keyring FILE        the full keyring (default VAULT_KEYRING; sandbox: .data/keyring.json)
  --ingest-out FILE     the ingest keyring to write (replaced if it exists)
  --kms-kek KEY         make the new KEK this AWS KMS symmetric key instead of a new key pair
                        (default VAULT_KMS_KEK)
  --allow-readable-keyring
                        use a full keyring that group or others may read
  -h, --help            show this help`,

  parse(args, env) {
    const values = parseOptions(args, {
      keyring: { type: "string" },
      "ingest-out": { type: "string" },
      "kms-kek": { type: "string" },
      "allow-readable-keyring": { type: "boolean" },
    });
    const ingestOut = asString(values["ingest-out"]);
    if (!ingestOut) throw new ConfigError("Missing --ingest-out: the file for the ingest keyring");
    const settings = readSettings(env);
    return {
      settings,
      keyringPath: keyringPath(settings, {
        flag: asString(values.keyring),
        sandboxName: "keyring.json",
        kind: "full keyring",
      }),
      ingestOut,
      kmsKek: parseKmsKeyId("--kms-kek", asString(values["kms-kek"])) ?? settings.kms.kekKeyId,
      allowReadableKeyring: values["allow-readable-keyring"] === true,
    };
  },

  async execute(options) {
    // A KeyringError ends the run with exit 2 as it is (main.ts).
    await checkDistinctFiles([options.keyringPath, options.ingestOut]);
    return await withKeyringLock(options.keyringPath, () => rotate(options));
  },
});

/** Reads the full keyring, adds a KEK, and writes both keyrings; prints the new KEK's id. */
async function rotate(options: KeysRotateOptions): Promise<number> {
  const path = options.keyringPath;
  const current = await loadFullKeyringFile(path, { allowReadable: options.allowReadableKeyring });
  // Every key of the keyring must load before anything is written.
  try {
    using _loaded = await importKeyring(current, { kms: options.settings.kms });
  } catch (error) {
    throw new ConfigError(`Cannot read keyring "${path}": ${(error as Error).message}`, {
      cause: error,
    });
  }
  const replaceIngest = await checkIngestTarget(options.ingestOut, current);
  let rotated: Awaited<ReturnType<typeof rotateKeyrings>>;
  try {
    rotated = await rotateKeyrings(current, { kmsKek: options.kmsKek });
  } catch (error) {
    throw new ConfigError(`Cannot rotate keyring "${path}": ${(error as Error).message}`, {
      cause: error,
    });
  }
  // The full keyring first: no ingest keyring may name a KEK whose private half is not kept.
  await writeKeyrings([
    { path, file: rotated.full, replace: true },
    { path: options.ingestOut, file: rotated.ingest, replace: replaceIngest },
  ]);
  console.error(`Added KEK "${rotated.kekId}" to "${path}"; older KEKs are now decrypt-only`);
  console.error(
    `Wrote the ingest keyring "${options.ingestOut}": restart each ingest with it, then run ` +
      `"keys rewrap" to move older data keys under the new KEK`,
  );
  console.log(rotated.kekId);
  return 0;
}

/**
 * Whether the ingest keyring at `path` exists to be replaced. An existing file must be an
 * ingest keyring of the same token key: rotate never overwrites anything else.
 */
async function checkIngestTarget(path: string, full: KeyringFile): Promise<boolean> {
  let existing: KeyringFile;
  try {
    existing = await readKeyringFile(path);
  } catch (error) {
    if (error instanceof KeyringError && error.cause instanceof Deno.errors.NotFound) return false;
    throw new ConfigError(
      `Cannot replace "${path}": it is not a vaultline keyring, refusing to overwrite it`,
      { cause: error },
    );
  }
  if (existing.kind !== "ingest") {
    throw new ConfigError(
      `Cannot replace "${path}": it is a full keyring, refusing to overwrite it with an ingest keyring`,
    );
  }
  const identity = ({ tokenKey }: KeyringFile) =>
    `${tokenKey.version}:${"key" in tokenKey ? tokenKey.key : tokenKey.keyId}`;
  if (identity(existing) !== identity(full)) {
    throw new ConfigError(
      `Cannot replace "${path}": it holds another token key, so it belongs to another keyring`,
    );
  }
  return true;
}
