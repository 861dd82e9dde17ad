/** The ingest's sealing stage: parsed messages become rows that hold no personal value in the clear. */
import { isRejection, type ParsedLogin, type ParsedMessage } from "../record/parse_message.ts";
import type { LoginRow, QuarantineRow, SealedBatch, VaultRow } from "../store/write_batch.ts";
import { type DataKey, quarantineContext, seal, vaultContext } from "../vault/envelope.ts";
import type { TokenKey } from "../vault/keyring.ts";
import { canonicalize, type PiiField, tokenize } from "../vault/token.ts";

/** What the ingest holds: the token key, and data keys wrapped for the KEK's public half. */
export interface IngestVault {
  readonly tokenKey: TokenKey;
  /** A data key with room to seal `count` more values. */
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

  // One token and one sealed value per distinct (field, canonical value) in the batch.
  const originals = new Map<string, { field: PiiField; value: string; token: Promise<string> }>();
  const tokenFor = (field: PiiField, raw: string): Promise<string> => {
    const value = canonicalize(field, raw);
    const key = `${field}\0${value}`;
    let entry = originals.get(key);
    if (!entry) {
      entry = { field, value, token: tokenize(vault.tokenKey, { field, value }) };
      originals.set(key, entry);
    }
    return entry.token;
  };
  const loginRows = await Promise.all(
    logins.map(async ({ messageId, login }): Promise<LoginRow> => ({
      messageId,
      userId: login.userId,
      deviceType: login.deviceType,
      maskedIp: await tokenFor("ip", login.ip),
      maskedDeviceId: await tokenFor("device_id", login.deviceId),
      locale: login.locale,
      appVersion: login.appVersion,
      createDate: login.createDate,
    })),
  );

  const count = originals.size + rejections.length;
  const dataKey = count === 0 ? undefined : await vault.dataKey(count);
  const vaultRows = dataKey === undefined ? [] : await Promise.all(
    [...originals.values()].map(async ({ field, value, token }): Promise<VaultRow> => {
      const sealed = await seal(dataKey, {
        context: vaultContext(await token, field),
        plaintext: value,
      });
      return { token: await token, field, dataKeyId: dataKey.id, ...sealed };
    }),
  );
  const quarantineRows = dataKey === undefined ? [] : await Promise.all(
    rejections.map(async ({ messageId, reason, sentAt, body }): Promise<QuarantineRow> => {
      const { nonce, ciphertext } = await seal(dataKey, {
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
    }),
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
