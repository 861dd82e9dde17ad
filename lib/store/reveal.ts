/**
 * The SQL of a reveal, through the definer functions of `sql/002_governance.sql`: the request is
 * recorded in `reveal_audit` and committed, and only then are its sealed entries fetched.
 */
import type { Database, Queryable } from "./database.ts";
import { refusal } from "./refusal.ts";

/** A `pii_vault` row with its data key's wrapped form, as a reveal reads it. */
export interface StoredEntry {
  readonly token: string;
  readonly field: "ip" | "device_id";
  readonly dataKeyId: string;
  readonly kekId: string;
  readonly wrappedKey: Uint8Array<ArrayBuffer>;
  readonly nonce: Uint8Array<ArrayBuffer>;
  readonly ciphertext: Uint8Array<ArrayBuffer>;
}

/** Whose originals: the named tokens, or every token of one person's rows. */
export type RevealSubject = { readonly tokens: readonly string[] } | { readonly userId: string };

/** Who asks (the OS user, as a claim), why, and for what. */
export interface RevealRequest {
  readonly subject: RevealSubject;
  readonly reason: string;
  readonly osUser: string;
  /** More tokens than the policy's bulk limit may be asked for, and the audit says so. */
  readonly bulk: boolean;
  /** Recorded in the audit: the caller shows only part of each value. */
  readonly masked: boolean;
}

/** What a reveal found: its audit id, the opened values, and the tokens the vault does not hold. */
export interface RevealResult<T> {
  readonly auditId: string;
  readonly revealed: readonly T[];
  readonly unknown: readonly string[];
}

const REVEALER_HINT = "revealing needs the vaultline_revealer role";

/**
 * Records the reveal (committed at once), fetches the sealed entries it covers, and opens them
 * with `open`. When `open` throws, the failure is recorded in the audit too, and the error
 * rethrown: a forged or altered entry is never shown, and never goes unrecorded.
 */
export async function revealWithAudit<T>(
  db: Database,
  request: RevealRequest,
  { open }: { open: (entries: readonly StoredEntry[]) => Promise<readonly T[]> },
): Promise<RevealResult<T>> {
  const auditId = await recordReveal(db, request);
  const rows = await fetchReveal(db, auditId);
  const entries = rows.filter(isStored);
  const unknown = rows.filter((row) => !isStored(row)).map((row) => row.token);
  let revealed: readonly T[];
  try {
    revealed = await open(entries);
  } catch (error) {
    await recordRevealFailure(db, { auditId, detail: messageOf(error) }).catch((failure) => {
      throw new Error(
        `${messageOf(error)}; recording the failure failed too: ${messageOf(failure)}`,
        {
          cause: error,
        },
      );
    });
    throw error;
  }
  return { auditId, revealed, unknown };
}

/** Records a reveal request in the audit through its definer function; returns the row's id. */
export async function recordReveal(db: Queryable, request: RevealRequest): Promise<string> {
  const { subject, reason, osUser, bulk, masked } = request;
  try {
    const [row] = "userId" in subject
      ? await db<{ id: string }[]>`
          SELECT vaultline_reveal_user(${subject.userId}, ${reason}, ${osUser}, ${bulk},
                                       ${masked}) AS id`
      : await db<{ id: string }[]>`
          SELECT vaultline_reveal(${[...subject.tokens]}::text[], ${reason}, ${osUser}, ${bulk},
                                  ${masked}) AS id`;
    if (row === undefined) throw new Error("Cannot reveal: the database returned no audit id");
    return row.id;
  } catch (error) {
    throw refusal(error, REVEALER_HINT);
  }
}

/** A fetched token: its sealed entry, or only the token when the vault did not hold it. */
type FetchedRow = StoredEntry | { readonly token: string; readonly field: null };

/** The sealed entries of a committed reveal request, one row per token it recorded. */
export async function fetchReveal(db: Queryable, auditId: string): Promise<FetchedRow[]> {
  try {
    return await db<FetchedRow[]>`SELECT * FROM vaultline_reveal_entries(${auditId}::bigint)`;
  } catch (error) {
    throw refusal(error, REVEALER_HINT);
  }
}

/** Appends a `reveal_failed` row for reveal `auditId`, with `detail` (no personal values). */
export async function recordRevealFailure(
  db: Queryable,
  { auditId, detail }: { auditId: string; detail: string },
): Promise<void> {
  await db`SELECT vaultline_reveal_failed(${auditId}::bigint, ${detail})`;
}

function isStored(row: FetchedRow): row is StoredEntry {
  return row.field !== null;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
