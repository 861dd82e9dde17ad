/** Opens quarantined bodies with a full keyring: the crypto half of a quarantine replay. */
import { open, quarantineContext } from "./envelope.ts";
import type { Keyring } from "./keyring.ts";

/** A sealed quarantined body and its wrapped data key, as the store reads them. */
export interface SealedBody {
  readonly messageId: string;
  readonly dataKeyId: string;
  readonly kekId: string;
  readonly wrappedKey: Uint8Array<ArrayBuffer>;
  readonly nonce: Uint8Array<ArrayBuffer>;
  readonly bodyCiphertext: Uint8Array<ArrayBuffer>;
}

/**
 * The bodies of `entries`, in order, unwrapping each data key once; throws naming the message
 * when an entry fails authentication or its KEK is not in the keyring.
 */
export async function openQuarantined(
  keyring: Keyring,
  entries: readonly SealedBody[],
): Promise<string[]> {
  const dataKeys = new Map<string, Promise<CryptoKey>>();
  return await Promise.all(entries.map(async (entry) => {
    const where = `Cannot open quarantined message "${entry.messageId}"`;
    let dataKey = dataKeys.get(entry.dataKeyId);
    if (!dataKey) {
      const kek = keyring.keks.find((k) => k.id === entry.kekId);
      if (!kek) {
        throw new Error(
          `${where}: its data key is wrapped by KEK "${entry.kekId}", not in the keyring`,
        );
      }
      dataKey = kek.unwrap({ id: entry.dataKeyId, wrapped: entry.wrappedKey });
      dataKeys.set(entry.dataKeyId, dataKey);
    }
    try {
      return await open({ id: entry.dataKeyId, key: await dataKey }, {
        context: quarantineContext(entry.messageId),
        nonce: entry.nonce,
        ciphertext: entry.bodyCiphertext,
      });
    } catch (error) {
      throw new Error(
        `${where}: it failed authentication (altered, moved, or under the wrong key)`,
        {
          cause: error,
        },
      );
    }
  }));
}
