/** `vaultline audit verify`: walk the audit's hash chain and name the first bad row. */
import { ConfigError } from "../config_error.ts";
import { readSettings, type Settings } from "../settings.ts";
import { auditRows } from "../store/audit.ts";
import { closeDatabase, connectDatabase, type Queryable } from "../store/database.ts";
import { CHAIN_START, type ChainPosition, chainProblem } from "../vault/audit_chain.ts";
import { asString, defineCommand, parseOptions } from "./command.ts";
import { openDatabase, prepareSchema } from "./services.ts";

/** What `audit verify` was asked to do. */
export interface AuditVerifyOptions {
  readonly settings: Settings;
  /** A head printed by an earlier verify: that row must still carry that hash. */
  readonly anchor: { readonly id: string; readonly hash: string } | undefined;
}

export const auditVerify = defineCommand<AuditVerifyOptions>({
  name: "audit verify",
  summary: "Check the audit's hash chain; exit 1 naming the first bad row",
  help: `Usage: vaultline audit verify [--anchor ID:HASH]

Walks reveal_audit in id order and recomputes each row's SHA-256 from the row before it and
its own content. Exits 1 naming the first row that was edited, deleted, reordered or inserted
out of order; otherwise prints the number of rows and the head (last id and hash). Whoever can
rewrite the whole table can rebuild a chain: keep the head somewhere else, and pass it later
as --anchor to prove nothing up to it changed since. Needs the vaultline_auditor role.

Options:
  --anchor ID:HASH  a head printed by an earlier verify
  -h, --help        show this help`,

  parse(args, env) {
    const values = parseOptions(args, { anchor: { type: "string" } });
    const text = asString(values.anchor);
    let anchor: AuditVerifyOptions["anchor"];
    if (text !== undefined) {
      const match = /^#?([1-9]\d{0,18}):([0-9a-f]{64})$/.exec(text.trim());
      if (!match?.[1] || !match[2]) {
        throw new ConfigError(
          `Invalid --anchor "${text}": expected a row id, ":" and a 64-digit hex hash`,
        );
      }
      anchor = { id: match[1], hash: match[2] };
    }
    return { settings: readSettings(env), anchor };
  },

  async execute(options) {
    await using database = await openDatabase(options.settings);
    const db = connectDatabase(database.url, { max: 1 });
    try {
      await prepareSchema(db, options.settings);
      const { rows, head } = await verifyAuditChain(db, options.anchor);
      const shown = head.id === undefined ? "empty" : `head #${head.id}:${head.hash}`;
      const anchored = options.anchor === undefined ? "" : `; anchor #${options.anchor.id} holds`;
      console.log(`Audit chain intact: ${rows} rows, ${shown}${anchored}`);
      return 0;
    } finally {
      await closeDatabase(db);
    }
  },
});

/**
 * Walks the audit in id order and checks its chain (and `anchor`, when given); resolves to the
 * number of rows and the head, or throws naming the first bad row.
 */
export async function verifyAuditChain(
  db: Queryable,
  anchor?: { readonly id: string; readonly hash: string },
): Promise<{ rows: number; head: ChainPosition }> {
  let previous: ChainPosition = CHAIN_START;
  let rows = 0;
  let anchorSeen = false;
  for await (const row of auditRows(db)) {
    const problem = await chainProblem(previous, row);
    if (problem !== undefined) throw new Error(`The audit chain is broken: ${problem}`);
    if (anchor !== undefined && row.id === anchor.id) {
      if (row.rowHash !== anchor.hash) {
        throw new Error(
          `The audit chain is broken: row #${row.id} no longer carries the anchored hash: ` +
            "the chain was rebuilt",
        );
      }
      anchorSeen = true;
    }
    previous = { id: row.id, hash: row.rowHash };
    rows++;
  }
  if (anchor !== undefined && !anchorSeen) {
    throw new Error(
      `The audit chain is broken: anchored row #${anchor.id} is gone: rows were deleted`,
    );
  }
  return { rows, head: previous };
}
