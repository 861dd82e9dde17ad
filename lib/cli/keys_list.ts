/** `vaultline keys list`: the keys of a keyring and their status, never their material. */
import { keyringPath, readSettings } from "../settings.ts";
import { listKeys, readKeyringFile } from "../vault/keyring.ts";
import { asString, defineCommand, parseOptions } from "./command.ts";

/** Which keyring `keys list` reads. */
export interface KeysListOptions {
  readonly keyringPath: string;
  readonly allowReadableKeyring: boolean;
}

export const keysList = defineCommand<KeysListOptions>({
  name: "keys list",
  summary: "List a keyring's keys and their status, one JSON line each",
  help: `Usage: vaultline keys list --keyring FILE

Prints one JSON line per key, the token key first, then the KEKs newest first:
{"id", "kind": "token" | "kek", "created", "status": "active" | "decrypt-only" | "retired"}.
Never prints key material.

Options:
  --keyring FILE   a full or ingest keyring (default VAULT_KEYRING; sandbox: .data/keyring.json)
  --allow-readable-keyring
                   read a full keyring that group or others may read
  -h, --help       show this help`,

  parse(args, env) {
    const values = parseOptions(args, {
      keyring: { type: "string" },
      "allow-readable-keyring": { type: "boolean" },
    });
    return {
      keyringPath: keyringPath(readSettings(env), {
        flag: asString(values.keyring),
        sandboxName: "keyring.json",
        kind: "keyring",
      }),
      allowReadableKeyring: values["allow-readable-keyring"] === true,
    };
  },

  async execute({ keyringPath, allowReadableKeyring }) {
    // A KeyringError ends the run with exit 2 as it is (main.ts).
    const file = await readKeyringFile(keyringPath, {
      allowReadable: allowReadableKeyring,
      warn: (line) => console.error(`vaultline: ${line}`),
    });
    for (const key of listKeys(file)) console.log(JSON.stringify(key));
    return 0;
  },
});
