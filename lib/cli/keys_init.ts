/** `vaultline keys init`: write a new keyring pair. */
import { ConfigError } from "../config_error.ts";
import { parseKmsKeyId, readSettings } from "../settings.ts";
import { createKeyrings, writeKeyrings } from "../vault/keyring.ts";
import { asString, defineCommand, parseOptions } from "./command.ts";

/** Where `keys init` writes the two keyrings, and which keys it puts in AWS KMS. */
export interface KeysInitOptions {
  readonly out: string;
  readonly ingestOut: string;
  readonly kmsKek: string | undefined;
  readonly kmsTokenKey: string | undefined;
}

export const keysInit = defineCommand<KeysInitOptions>({
  name: "keys init",
  summary: "Create a keyring pair: the full keyring and the ingest keyring",
  help:
    `Usage: vaultline keys init --out FILE --ingest-out FILE [--kms-kek KEY] [--kms-token-key KEY]

Writes a new full keyring (token key and KEK private key: for reveal) to --out and the
matching ingest keyring (token key and KEK public key: encrypts, never decrypts) to
--ingest-out, both mode 0600, both or neither. Refuses to overwrite an existing file.

Options:
  --out FILE            full keyring file
  --ingest-out FILE     ingest keyring file
  --kms-kek KEY         use this AWS KMS symmetric key (id, ARN or alias) as the KEK
                        (default VAULT_KMS_KEK; unset: a new key pair in the file)
  --kms-token-key KEY   use this AWS KMS HMAC_256 key as the token key
                        (default VAULT_KMS_TOKEN_KEY; unset: 32 random bytes in the file)
  -h, --help            show this help`,

  parse(args, env) {
    const values = parseOptions(args, {
      out: { type: "string" },
      "ingest-out": { type: "string" },
      "kms-kek": { type: "string" },
      "kms-token-key": { type: "string" },
    });
    const out = asString(values.out);
    const ingestOut = asString(values["ingest-out"]);
    if (!out) throw new ConfigError("Missing --out: the file for the full keyring");
    if (!ingestOut) throw new ConfigError("Missing --ingest-out: the file for the ingest keyring");
    const { kms } = readSettings(env);
    return {
      out,
      ingestOut,
      kmsKek: parseKmsKeyId("--kms-kek", asString(values["kms-kek"])) ?? kms.kekKeyId,
      kmsTokenKey: parseKmsKeyId("--kms-token-key", asString(values["kms-token-key"])) ??
        kms.tokenKeyId,
    };
  },

  async execute({ out, ingestOut, kmsKek, kmsTokenKey }) {
    const { full, ingest } = await createKeyrings(new Date(), { kmsKek, kmsTokenKey });
    await writeKeyrings([{ path: out, file: full }, { path: ingestOut, file: ingest }]);
    console.error(`Wrote the full keyring to "${out}" (for reveal; keep it offline)`);
    console.error(`Wrote the ingest keyring to "${ingestOut}" (for run; it cannot decrypt)`);
    return 0;
  },
});
