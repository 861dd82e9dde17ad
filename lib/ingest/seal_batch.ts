/** The ingest's sealing stage: parsed messages become rows that hold no personal value in the clear. */
import { isRejection, type ParsedLogin, type ParsedMessage } from "../record/parse_message.ts";
import type { LoginRow, QuarantineRow, SealedBatch, VaultRow } from "../store/write_batch.ts";
import { quarantineContext, seal, vaultContext } from "../vault/envelope.ts";
import type { DataKey, TokenKeyProvider } from "../vault/key_provider.ts";
import { canonicalize, type PiiField } from "../vault/token.ts";

/** What the ingest holds: the token key's provider, and data keys from the KEK's provider. */
export interface IngestVault {
  readonly tokenKey: TokenKeyProvider;
  /** A data key with room to seal `count` more values (see `dataKeySource`). */
  readonly dataKey: (count: number) => Promise<DataKey>;
}

/** Tokenizes the logins and seals their originals and the rejected bodies. */
export async function sealBatch(
  messages: readonly ParsedMessage[],
  vault: IngestVault,
): Promise<SealedBatch> {
  const unique = new Map<string, ParsedMessage>();
  for (const message of messages) {
    if (!unique.has(message.messageId)) unique.set(message.messageId, message);
  }
  const parsed = [...unique.values()];
  const rejections = parsed.filter(isRejection);
  const logins = parsed.filter((message): message is ParsedLogin => !isRejection(message));

  // One token and one sealed value per distinct (field, canonical value) in the batch, and one
  // call of the token key for all of them.
  const originals = new Map<
    string,
    { field: PiiField; value: string; token?: string | undefined }
  >();
  const keyOf = (field: PiiField, raw: string) => `${field}\0${canonicalize(field, raw)}`;
  for (const { login } of logins) {
    for (const [field, raw] of [["ip", login.ip], ["device_id", login.deviceId]] as const) {
      const key = keyOf(field, raw);
      if (!originals.has(key)) {
        originals.set(key, { field, value: canonicalize(field, raw), token: "" });
      }
    }
  }
  const distinct = [...originals.values()];
  const tokens = await vault.tokenKey.tokenize(distinct);
  distinct.forEach((entry, i) => (entry.token = tokens[i]));
  const tokenFor = (field: PiiField, raw: string): string => {
    const token = originals.get(keyOf(field, raw))?.token;
    if (token === undefined) throw new Error(`The token key returned no token for a ${field}`);
    return token;
  };
  const loginRows = logins.map(({ messageId, login }): LoginRow => ({
    messageId,
    userId: login.userId,
    deviceType: login.deviceType,
    maskedIp: tokenFor("ip", login.ip),
    maskedDeviceId: tokenFor("device_id", login.deviceId),
    locale: login.locale,
    appVersion: login.appVersion,
    createDate: login.createDate,
  }));

  const count = originals.size + rejections.length;
  const dataKey = count === 0 ? undefined : await vault.dataKey(count);
  // Sealing is synchronous (node:crypto): no promise per value.
  const vaultRows = dataKey === undefined ? [] : distinct.map(({ field, value }): VaultRow => {
    const token = tokenFor(field, value);
    const sealed = seal(dataKey, { context: vaultContext(token, field), plaintext: value });
    return { token, field, dataKeyId: dataKey.id, ...sealed };
  });
  const quarantineRows = dataKey === undefined ? [] : rejections.map(
    ({ messageId, reason, sentAt, body }): QuarantineRow => {
      const { nonce, ciphertext } = seal(dataKey, {
        context: quarantineContext(messageId),
        plaintext: body,
      });
      return {
        messageId,
        reason,
        sentAt,
        dataKeyId: dataKey.id,
        nonce,
        bodyCiphertext: ciphertext,
      };
    },
  );
  return {
    dataKey,
    logins: loginRows.sort((a, b) => compare(a.messageId, b.messageId)),
    vault: vaultRows.sort((a, b) => compare(a.token, b.token)),
    quarantine: quarantineRows.sort((a, b) => compare(a.messageId, b.messageId)),
    messages: messages.length,
  };
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
