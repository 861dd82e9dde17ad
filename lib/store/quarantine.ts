/** The SQL of `ingest_quarantine`: what it holds by reason, and the reads and writes of a replay. */
import { appendAudit } from "./audit.ts";
import type { Database, Transaction } from "./database.ts";
import { type BatchResult, type SealedBatch, writeBatch } from "./write_batch.ts";

/** A quarantined message as a listing shows it: never its body. */
export interface QuarantineListing {
  readonly messageId: string;
  readonly reason: string;
  readonly sentAt: Date | null;
  readonly receivedAt: Date;
}

/** How many quarantined messages share a reason. */
export interface ReasonCount {
  readonly reason: string;
  readonly count: number;
}

/** A quarantined message with its sealed body and the wrapped data key, as a replay reads it. */
export interface QuarantinedEntry {
  readonly messageId: string;
  readonly reason: string;
  readonly sentAt: Date | null;
  readonly receivedAt: Date;
  readonly dataKeyId: string;
  readonly kekId: string;
  readonly wrappedKey: Uint8Array<ArrayBuffer>;
  readonly nonce: Uint8Array<ArrayBuffer>;
  readonly bodyCiphertext: Uint8Array<ArrayBuffer>;
}

/** Which quarantined messages: those whose reason contains `matching`, when given. */
export interface QuarantineFilter {
  readonly matching?: string | undefined;
}

/** The number of quarantined messages for each reason, most first. */
export async function countByReason(
  db: Database,
  { matching }: QuarantineFilter = {},
): Promise<ReasonCount[]> {
  return await db<ReasonCount[]>`
    SELECT reason, count(*)::int AS count FROM ingest_quarantine
    WHERE strpos(reason, ${matching ?? ""}) > 0
    GROUP BY reason ORDER BY count DESC, reason`;
}

/** The `limit` most recently received quarantined messages, without their bodies. */
export async function listQuarantined(
  db: Database,
  { matching, limit }: QuarantineFilter & { limit: number },
): Promise<QuarantineListing[]> {
  return await db<QuarantineListing[]>`
    SELECT message_id, reason, sent_at, received_at FROM ingest_quarantine
    WHERE strpos(reason, ${matching ?? ""}) > 0
    ORDER BY received_at DESC, message_id LIMIT ${limit}`;
}

/** Up to `limit` quarantined messages after message id `after`, in message id order. */
export async function readQuarantined(
  db: Database,
  { matching, after, limit }: QuarantineFilter & { after: string; limit: number },
): Promise<QuarantinedEntry[]> {
  return await db<QuarantinedEntry[]>`
    SELECT q.message_id, q.reason, q.sent_at, q.received_at, q.data_key_id, q.nonce,
           q.body_ciphertext, k.kek_id, k.wrapped_key
    FROM ingest_quarantine q JOIN vault_data_keys k ON k.id = q.data_key_id
    WHERE q.message_id > ${after} AND strpos(q.reason, ${matching ?? ""}) > 0
    ORDER BY q.message_id LIMIT ${limit}`;
}

/**
 * Records in the audit chain that quarantined bodies of `messageIds` are about to be decrypted
 * for a replay, and why (the reveal policy applies to the reason); resolves once that is
 * committed. A `replay` row whose tokens are `quarantine:<message id>`.
 */
export async function recordQuarantineReplay(
  db: Database,
  { osUser, reason, messageIds }: {
    osUser: string;
    reason: string;
    messageIds: readonly string[];
  },
): Promise<void> {
  await appendAudit(db, {
    kind: "replay",
    reason,
    osUser,
    detail: `${messageIds.length} quarantined messages`,
    tokens: messageIds.map((id) => `quarantine:${id}`),
  });
}

/**
 * Writes the logins of `batch`, replayed from quarantine, and removes their quarantine rows, in
 * `tx`: a message already in `user_logins` adds nothing, so a replay writes each one once.
 */
export async function writeReplayed(tx: Transaction, batch: SealedBatch): Promise<BatchResult> {
  const result = await writeBatch(tx, batch);
  const ids = batch.logins.map((login) => login.messageId);
  if (ids.length > 0) await tx`DELETE FROM ingest_quarantine WHERE message_id IN ${tx(ids)}`;
  return result;
}
