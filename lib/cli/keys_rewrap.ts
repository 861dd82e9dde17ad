/** `vaultline keys rewrap`: move every data key under the newest KEK, in batches, resumably. */
import { keyringPath, readSettings, type Settings } from "../settings.ts";
import { countDataKeysByKek, rewrapDataKeyBatch, type StoredDataKey } from "../store/data_keys.ts";
import { closeDatabase, connectDatabase } from "../store/database.ts";
import type { Keyring } from "../vault/keyring.ts";
import { asString, defineCommand, parseInteger, parseOptions } from "./command.ts";
import { loadKeyring, openDatabase } from "./services.ts";

/** What `keys rewrap` was asked to do. */
export interface KeysRewrapOptions {
  readonly settings: Settings;
  readonly keyringPath: string;
  readonly batchSize: number;
  readonly json: boolean;
  readonly allowReadableKeyring: boolean;
}

/** What a rewrap did. */
export interface RewrapSummary {
  /** The KEK every data key is under now. */
  readonly kek: string;
  readonly rewrapped: number;
  readonly batches: number;
  /** Data keys moved, by the KEK that wrapped them before. */
  readonly from: Record<string, number>;
  /** Data keys that were under the newest KEK already. */
  readonly alreadyUnder: number;
}

export const keysRewrap = defineCommand<KeysRewrapOptions>({
  name: "keys rewrap",
  summary: "Re-wrap every data key under the newest KEK, in batches, resumably",
  help: `Usage: vaultline keys rewrap --keyring FILE [--batch-size N] [--json]

Re-wraps every data key in vault_data_keys that is not under the keyring's newest KEK: each
is unwrapped with its own KEK and wrapped again under the newest one. No value is re-encrypted
and no token changes. Each batch is one transaction, so a crash loses no work but the batch in
flight; run it again to resume. Reads DATABASE_URL (or the sandbox).

Options:
  --keyring FILE     the full keyring (default VAULT_KEYRING; sandbox: .data/keyring.json)
  --batch-size N     data keys per transaction, 1 to 10000 (default 200)
  --json             print the summary as one JSON object on stdout
  --allow-readable-keyring
                     use a full keyring that group or others may read
  -h, --help         show this help`,

  parse(args, env) {
    const values = parseOptions(args, {
      keyring: { type: "string" },
      "batch-size": { type: "string" },
      json: { type: "boolean" },
      "allow-readable-keyring": { type: "boolean" },
    });
    const settings = readSettings(env);
    return {
      settings,
      keyringPath: keyringPath(settings, {
        flag: asString(values.keyring),
        sandboxName: "keyring.json",
        kind: "full keyring",
      }),
      batchSize: parseInteger("--batch-size", asString(values["batch-size"]), {
        min: 1,
        max: 10_000,
        fallback: 200,
      }),
      json: values.json === true,
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
      const kek = keyring.keks[0].id;
      const from: Record<string, number> = {};
      let rewrapped = 0;
      let batches = 0;
      const before = (await countDataKeysByKek(db)).get(kek) ?? 0;
      for (;;) {
        const batch = await rewrapDataKeyBatch(db, {
          toKekId: kek,
          batchSize: options.batchSize,
          rewrap: (dataKeys) => rewrapUnder(keyring, dataKeys),
        });
        if (!batch) break;
        batches++;
        rewrapped += batch.count;
        for (const [id, n] of batch.from) from[id] = (from[id] ?? 0) + n;
        if (!options.json) console.error(`vaultline: rewrapped ${rewrapped} so far`);
      }
      const summary: RewrapSummary = { kek, rewrapped, batches, from, alreadyUnder: before };
      console.log(options.json ? JSON.stringify(summary) : describe(summary));
      return 0;
    } finally {
      await closeDatabase(db);
    }
  },
});

/** Each data key unwrapped with the KEK that wrapped it and wrapped again under the newest. */
async function rewrapUnder(
  keyring: Keyring,
  dataKeys: readonly StoredDataKey[],
): Promise<Uint8Array[]> {
  const [newest] = keyring.keks;
  return await Promise.all(dataKeys.map(async ({ id, kekId, wrappedKey }) => {
    const kek = keyring.keks.find((k) => k.id === kekId);
    if (!kek) {
      throw new Error(
        `Cannot rewrap data key "${id}": it is wrapped by KEK "${kekId}", which the keyring does ` +
          "not hold (retired, or from another keyring)",
      );
    }
    let key: CryptoKey;
    try {
      key = await kek.unwrap({ id, wrapped: wrappedKey }, { extractable: true });
    } catch (error) {
      throw new Error(`Cannot rewrap data key "${id}": it failed to unwrap under KEK "${kekId}"`, {
        cause: error,
      });
    }
    return await newest.wrap({ id, key });
  }));
}

function describe(summary: RewrapSummary): string {
  const count = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`;
  const lines = [
    `Rewrapped ${count(summary.rewrapped, "data key", "data keys")} under KEK "${summary.kek}" ` +
    `in ${count(summary.batches, "batch", "batches")}`,
    ...Object.entries(summary.from).map(([id, n]) => `  from ${id}  ${n}`),
    `  already under it  ${summary.alreadyUnder}`,
  ];
  return lines.join("\n");
}
