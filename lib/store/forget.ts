/** The SQL of an erasure, through `vaultline_forget`: tombstones, deleted entries, one audit row. */
import type { Queryable } from "./database.ts";
import { refusal } from "./refusal.ts";

/** Whom to forget, why, and who asks (the OS user, as a claim). */
export interface ForgetRequest {
  readonly userId: string;
  readonly reason: string;
  readonly osUser: string;
}

/** What an erasure changed. */
export interface ForgetResult {
  readonly auditId: string;
  /** The person's `user_logins` rows, whose tokens are now tombstones. */
  readonly rowsForgotten: number;
  /** Vault entries only the person's rows used, now deleted. */
  readonly entriesDeleted: number;
  /** The person's vault entries that other people's rows use too, kept. */
  readonly entriesKept: number;
}

/** Makes `request.userId`'s originals unrecoverable, in one transaction, audited. */
export async function forgetPerson(db: Queryable, request: ForgetRequest): Promise<ForgetResult> {
  try {
    const [row] = await db<
      { auditId: string; rowsForgotten: string; entriesDeleted: string; entriesKept: string }[]
    >`SELECT * FROM vaultline_forget(${request.userId}, ${request.reason}, ${request.osUser})`;
    if (row === undefined) throw new Error("Cannot forget: the database returned no result");
    return {
      auditId: row.auditId,
      rowsForgotten: Number(row.rowsForgotten),
      entriesDeleted: Number(row.entriesDeleted),
      entriesKept: Number(row.entriesKept),
    };
  } catch (error) {
    throw refusal(error, "forgetting needs the vaultline_revealer role");
  }
}
