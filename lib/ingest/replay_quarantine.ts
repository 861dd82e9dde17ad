/**
 * A quarantine replay: quarantined bodies decrypted with the full keyring, run through today's
 * record rules, and the ones that now pass written to `user_logins` once, their quarantine rows
 * removed in the same transaction. The rest stay. Every page is audited before it is decrypted.
 */
import {
  type InboundMessage,
  isRejection,
  type ParsedLogin,
  parseMessage,
} from "../record/parse_message.ts";
import type { Database } from "../store/database.ts";
import { classifyDatabaseError } from "../store/database_error.ts";
import {
  type QuarantinedEntry,
  readQuarantined,
  recordQuarantineReplay,
  writeReplayed,
} from "../store/quarantine.ts";
import type { Keyring } from "../vault/keyring.ts";
import { openQuarantined } from "../vault/open_quarantined.ts";
import { type IngestVault, sealBatch } from "./seal_batch.ts";

/** What a replay did. */
export interface ReplaySummary {
  /** Quarantined messages decrypted and run through the record rules. */
  readonly examined: number;
  /** Written to `user_logins` now. */
  readonly written: number;
  /** Already in `user_logins` (an earlier replay or delivery): only their quarantine row went. */
  readonly alreadyWritten: number;
  /** Still rejected by today's record rules: left in quarantine. */
  readonly stillRejected: number;
  /** Accepted by the rules but refused by the database: left in quarantine. */
  readonly refused: number;
}

/** Quarantined messages decrypted per transaction. */
const PAGE = 200;

/**
 * Replays the quarantined messages whose reason contains `matching` (all when undefined), with
 * the full `keyring`; `reason` and `osUser` go to the audit. `vault` seals the replayed values.
 */
export async function replayQuarantine(
  db: Database,
  options: {
    keyring: Keyring;
    vault: IngestVault;
    reason: string;
    osUser: string;
    matching?: string | undefined;
  },
): Promise<ReplaySummary> {
  const totals = { examined: 0, written: 0, alreadyWritten: 0, stillRejected: 0, refused: 0 };
  for (let after = "";;) {
    const page = await readQuarantined(db, { matching: options.matching, after, limit: PAGE });
    if (page.length === 0) return totals;
    after = page.at(-1)!.messageId;
    await recordQuarantineReplay(db, {
      osUser: options.osUser,
      reason: options.reason,
      messageIds: page.map((entry) => entry.messageId),
    });
    const bodies = await openQuarantined(options.keyring, page);
    const parsed = page.map((entry, i) => parseMessage(inbound(entry, bodies[i] ?? "")));
    const logins = parsed.filter((message): message is ParsedLogin => !isRejection(message));
    totals.examined += page.length;
    totals.stillRejected += page.length - logins.length;
    const written = await writeLogins(db, logins, options.vault);
    totals.written += written.inserted;
    totals.alreadyWritten += written.duplicates;
    totals.refused += written.refused;
  }
}

/** Writes `logins` in one transaction, or one by one when the database refuses the whole. */
async function writeLogins(
  db: Database,
  logins: readonly ParsedLogin[],
  vault: IngestVault,
): Promise<{ inserted: number; duplicates: number; refused: number }> {
  if (logins.length === 0) return { inserted: 0, duplicates: 0, refused: 0 };
  try {
    const batch = await sealBatch(logins, vault);
    const result = await db.begin((tx) => writeReplayed(tx, batch));
    return { inserted: result.inserted, duplicates: result.duplicates, refused: 0 };
  } catch (error) {
    const failure = classifyDatabaseError(error);
    if (failure.kind !== "poison") throw failure;
  }
  if (logins.length === 1) return { inserted: 0, duplicates: 0, refused: 1 };
  const totals = { inserted: 0, duplicates: 0, refused: 0 };
  for (const login of logins) {
    const one = await writeLogins(db, [login], vault);
    totals.inserted += one.inserted;
    totals.duplicates += one.duplicates;
    totals.refused += one.refused;
  }
  return totals;
}

/** The message as the queue delivered it, with the send time it had (or its quarantine time). */
function inbound(entry: QuarantinedEntry, body: string): InboundMessage {
  return { messageId: entry.messageId, body, sentAt: entry.sentAt ?? entry.receivedAt };
}
