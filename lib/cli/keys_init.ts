/** `vaultline keys init`: write a new keyring pair. */
import { ConfigError } from "../config_error.ts";
import { createKeyrings, writeKeyrings } from "../vault/keyring.ts";
import { asString, defineCommand, parseOptions } from "./command.ts";

/** Where `keys init` writes the two keyrings. */
export interface KeysInitOptions {
  readonly out: string;
  readonly ingestOut: string;
}

export const keysInit = defineCommand<KeysInitOptions>({
  name: "keys init",
  summary: "Create a keyring pair: the full keyring and the ingest keyring",
  help: `Usage: vaultline keys init --out FILE --ingest-out FILE

Writes a new full keyring (token key and KEK private key: for reveal) to --out and the
matching ingest keyring (token key and KEK public key: encrypts, never decrypts) to
--ingest-out, both mode 0600, both or neither. Refuses to overwrite an existing file.

Options:
  --out FILE          full keyring file
  --ingest-out FILE   ingest keyring file
  -h, --help          show this help`,

  parse(args) {
    const values = parseOptions(args, {
      out: { type: "string" },
      "ingest-out": { type: "string" },
    });
    const out = asString(values.out);
    const ingestOut = asString(values["ingest-out"]);
    if (!out) throw new ConfigError("Missing --out: the file for the full keyring");
    if (!ingestOut) throw new ConfigError("Missing --ingest-out: the file for the ingest keyring");
    return { out, ingestOut };
  },

  async execute({ out, ingestOut }) {
    const { full, ingest } = await createKeyrings();
    await writeKeyrings([{ path: out, file: full }, { path: ingestOut, file: ingest }]);
    console.error(`Wrote the full keyring to "${out}" (for reveal; keep it offline)`);
    console.error(`Wrote the ingest keyring to "${ingestOut}" (for run; it cannot decrypt)`);
    return 0;
  },
});
