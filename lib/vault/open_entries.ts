/** Opens sealed vault entries with a full keyring: the crypto half of a reveal, without SQL. */
import { open, vaultContext } from "./envelope.ts";
import type { Keyring } from "./keyring.ts";
import type { StoredEntry } from "../store/reveal.ts";
import { type PiiField, tokenize } from "./token.ts";

/** One recovered original. */
export interface Revealed {
  readonly token: string;
  readonly field: PiiField;
  readonly value: string;
}

/**
 * Opens `entries`, unwrapping each data key once, and checks that each value is the one its token
 * stands for, with the keyring's token key. Throws naming the token when any entry fails
 * authentication (altered, moved to another row, or pointed at another data key) or its value
 * does not match its token: a value sealed afresh for a token by whoever holds a public KEK.
 */
export async function openEntries(
  keyring: Keyring,
  entries: readonly StoredEntry[],
): Promise<Revealed[]> {
  const dataKeys = new Map<string, Promise<CryptoKey>>();
  return await Promise.all(entries.map(async (entry): Promise<Revealed> => {
    let dataKey = dataKeys.get(entry.dataKeyId);
    if (!dataKey) {
      dataKey = unwrapFor(keyring, entry);
      dataKeys.set(entry.dataKeyId, dataKey);
    }
    const key = { id: entry.dataKeyId, key: await dataKey };
    let value: string;
    try {
      value = await open(key, { context: vaultContext(entry.token, entry.field), ...entry });
    } catch (error) {
      throw new Error(
        `Cannot reveal token "${entry.token}": the vault entry failed authentication` +
          " (altered, moved, or under the wrong data key)",
        { cause: error },
      );
    }
    await verifyToken(keyring, entry, value);
    return { token: entry.token, field: entry.field, value };
  }));
}

/** Throws unless `value` tokenizes to `entry.token` under the keyring's token key. */
async function verifyToken(keyring: Keyring, entry: StoredEntry, value: string): Promise<void> {
  const version = /^(?:ip|dev)(\d{1,2})_/.exec(entry.token)?.[1];
  if (Number(version) !== keyring.tokenKey.version) {
    throw new Error(
      `Cannot reveal token "${entry.token}": it was made under token key version ${version},` +
        ` and the keyring holds version ${keyring.tokenKey.version}, so its value cannot be verified`,
    );
  }
  if (await tokenize(keyring.tokenKey, { field: entry.field, value }) !== entry.token) {
    throw new Error(
      `Cannot reveal token "${entry.token}": the vault entry's value does not match the token` +
        " (forged: sealed afresh for this token)",
    );
  }
}

async function unwrapFor(keyring: Keyring, entry: StoredEntry): Promise<CryptoKey> {
  const kek = keyring.keks.find((k) => k.id === entry.kekId);
  if (!kek) {
    throw new Error(
      `Cannot reveal token "${entry.token}": its data key is wrapped by KEK "${entry.kekId}",` +
        " which the keyring does not hold",
    );
  }
  try {
    return await kek.unwrap({ id: entry.dataKeyId, wrapped: entry.wrappedKey });
  } catch (error) {
    throw new Error(
      `Cannot reveal token "${entry.token}": its data key failed to unwrap under KEK "${kek.id}"`,
      { cause: error },
    );
  }
}
