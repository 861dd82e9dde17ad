/** The SQL of the audit: reading `reveal_audit` in id order, and appending rows of other kinds. */
import type { AuditRecord } from "../vault/audit_chain.ts";
import type { Queryable } from "./database.ts";
import { refusal } from "./refusal.ts";

/** Rows `readAudit` returns at most per call. */
export const AUDIT_PAGE = 2000;

/** Audit rows after id `afterId` (all when undefined), at or after `since`, in id order. */
export async function readAudit(
  db: Queryable,
  { afterId, since, limit = AUDIT_PAGE }: { afterId?: string; since?: Date; limit?: number } = {},
): Promise<AuditRecord[]> {
  try {
    return await db<AuditRecord[]>`
      SELECT id::text AS id,
             to_char(revealed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS at,
             kind, db_user, os_user, reason, detail, user_id, bulk, masked, ref_id::text AS ref_id,
             token_count, tokens, unknown_tokens, prev_hash, row_hash
      FROM reveal_audit
      WHERE id > ${afterId ?? "0"}::bigint
        AND revealed_at >= ${since ?? new Date(0)}
      ORDER BY reveal_audit.id -- the bigint, not the text column of the same name
      LIMIT ${limit}`;
  } catch (error) {
    throw refusal(error, "reading the audit needs the vaultline_auditor role");
  }
}

/** Every audit row at or after `since`, a page at a time, in id order. */
export async function* auditRows(
  db: Queryable,
  { since }: { since?: Date } = {},
): AsyncGenerator<AuditRecord> {
  let afterId: string | undefined;
  while (true) {
    const page = await readAudit(db, {
      ...(afterId ? { afterId } : {}),
      ...(since ? { since } : {}),
    });
    yield* page;
    if (page.length < AUDIT_PAGE) return;
    afterId = page.at(-1)?.id;
  }
}

/** An act to record other than a reveal, an erasure or a policy change (those record themselves). */
export interface AuditEntry {
  /** Lowercase letters and "_": `replay`, say. */
  readonly kind: string;
  /** Why, as the reveal policy requires of a reason. */
  readonly reason: string;
  /** The operating-system user, as a claim; the database records its session user itself. */
  readonly osUser: string;
  /** What was done, without personal values: message ids, counts. */
  readonly detail?: string;
  readonly tokens?: readonly string[];
  readonly userId?: string;
}

/**
 * Appends `entry` to the audit through `vaultline_audit_append`, in `db`'s transaction when it is
 * one; returns the new row's id. Needs the owner, or a role granted that function.
 */
export async function appendAudit(db: Queryable, entry: AuditEntry): Promise<string> {
  try {
    const [row] = await db<{ id: string }[]>`
      SELECT vaultline_audit_append(${entry.kind}, ${entry.reason}, ${entry.osUser},
        ${entry.detail ?? null}, ${[...(entry.tokens ?? [])]}::text[], ${
      entry.userId ?? null
    }) AS id`;
    if (row === undefined) {
      throw new Error("Cannot append to the audit: the database returned no id");
    }
    return row.id;
  } catch (error) {
    throw refusal(error, "grant EXECUTE on vaultline_audit_append to the role that records this");
  }
}
