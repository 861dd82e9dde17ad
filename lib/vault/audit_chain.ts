/**
 * The hash chain of `reveal_audit`, recomputed without the database: each row's hash is SHA-256
 * of the previous row's hash and the row's content, so an edited, deleted or reordered row
 * breaks the chain at that row. The content is the text `vaultline_audit_content` builds in SQL.
 */

/** An audit row as the chain hashes it; ids and counts as the text the database prints. */
export interface AuditRecord {
  readonly id: string;
  /** `revealed_at` in UTC with microseconds: `2026-11-25T12:00:00.123456Z`. */
  readonly at: string;
  readonly kind: string;
  readonly dbUser: string;
  readonly osUser: string | null;
  readonly reason: string;
  readonly detail: string | null;
  readonly userId: string | null;
  readonly bulk: boolean;
  readonly masked: boolean;
  readonly refId: string | null;
  readonly tokenCount: number;
  readonly tokens: readonly string[];
  readonly unknownTokens: readonly string[];
  readonly prevHash: string;
  readonly rowHash: string;
}

/** The previous hash of the first row. */
export const GENESIS_HASH = "0".repeat(64);

const encoder = new TextEncoder();

/** The content of `row` as hashed: each field as its UTF-8 length, ":" and the text; null is "~". */
export function auditContent(row: AuditRecord): string {
  const field = (value: string | null) =>
    value === null ? "~" : `${encoder.encode(value).length}:${value}`;
  const list = (values: readonly string[]) =>
    field(String(values.length)) + values.map(field).join("");
  return "vaultline-audit/v1\n" + [
    row.id,
    row.at,
    row.kind,
    row.dbUser,
    row.osUser,
    row.reason,
    row.detail,
    row.userId,
    row.bulk ? "t" : "f",
    row.masked ? "t" : "f",
    row.refId,
    String(row.tokenCount),
  ].map(field).join("") + list(row.tokens) + list(row.unknownTokens);
}

/** The hash `row` must carry when the row before it carries `prevHash`: hex SHA-256. */
export async function auditRowHash(prevHash: string, row: AuditRecord): Promise<string> {
  const digest = await crypto.subtle.digest(
    "SHA-256",
    encoder.encode(`${prevHash}\n${auditContent(row)}`),
  );
  return new Uint8Array(digest).toHex();
}

/** Where a chain is checked from: the last good row, or nothing before the first. */
export interface ChainPosition {
  readonly id: string | undefined;
  readonly hash: string;
}

/** The start of a chain. */
export const CHAIN_START: ChainPosition = { id: undefined, hash: GENESIS_HASH };

/**
 * Checks that `row` follows `previous` and matches its own hash; returns what is wrong with it
 * (a sentence naming the row), or undefined when it is sound.
 */
export async function chainProblem(
  previous: ChainPosition,
  row: AuditRecord,
): Promise<string | undefined> {
  if (row.prevHash !== previous.hash) {
    return previous.id === undefined
      ? `row #${row.id} does not start the chain: a row before it was deleted`
      : `row #${row.id} does not follow row #${previous.id}: a row between them was deleted, ` +
        "or rows were reordered or inserted out of order";
  }
  if (row.rowHash !== await auditRowHash(previous.hash, row)) {
    return `row #${row.id} does not match its hash: it was edited or moved`;
  }
  return undefined;
}
