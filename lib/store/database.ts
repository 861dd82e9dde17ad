/** Connections to Postgres: one client library and one code path for real and embedded servers. */
import postgres from "postgres";

/** A connection pool. */
export type Database = postgres.Sql;

/** A transaction's connection, as handed out by `Database.begin`. */
export type Transaction = postgres.TransactionSql;

/** Either: for statements that work alike in a transaction and on their own. */
export type Queryable = Database | Transaction;

/** Seconds `closeDatabase` lets running queries finish before it drops their connections. */
const CLOSE_TIMEOUT_SECONDS = 5;

/**
 * Server-side bounds of a session, so that the server ends what a client gave up on: a statement
 * running longer than `statementTimeoutMs`, and a transaction left idle for `idleInTransactionMs`
 * (with the locks it holds).
 */
export interface SessionLimits {
  readonly statementTimeoutMs: number;
  readonly idleInTransactionMs: number;
}

/**
 * Guards against two postgres.js 3.4.9 flaws, installed with the first pool and kept: both
 * symptoms are narrow, and both follow only from dropping a pool on purpose.
 * - Dropping a pool mid-transaction rejects queries of the driver's own that nothing awaits.
 * - The driver can flush a write from a timer after its connection's socket is gone (a pool ended
 *   while a connection reconnects: a TypeError) or ended by the server (an EPIPE error, thrown or
 *   rejected), and a connection attempt of a dropped pool fails with nothing awaiting it. The pool
 *   is gone already; its query, if it was not, is abandoned at the write timeout.
 */
function guardDroppedPools(): void {
  globalThis.addEventListener("unhandledrejection", (event) => {
    const code = (event.reason as { code?: unknown } | null)?.code;
    if (
      code === "CONNECTION_DESTROYED" || isLateWrite(event.reason) || isOrphanConnect(event.reason)
    ) {
      event.preventDefault();
    }
  });
  globalThis.addEventListener("error", (event) => {
    if (isLateWrite(event.error)) event.preventDefault();
  });
}

/** A refused connection attempt that nothing awaits: only a dropped pool leaves one behind. */
function isOrphanConnect(error: unknown): boolean {
  return error instanceof Error && (error as { code?: unknown }).code === "ECONNREFUSED" &&
    /_afterConnect/.test(error.stack ?? "");
}

/** A write postgres.js flushed from a timer to a socket that was dropped or ended. */
export function isLateWrite(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const late = (error instanceof TypeError && error.message.includes("reading 'write'")) ||
    (error as { code?: unknown }).code === "EPIPE" ||
    error.message.includes("ended by the other party");
  return late && /nextWrite/.test(error.stack ?? "") &&
    /[/\\]postgres(@[\d.]+)?([/\\][\d.]+)?[/\\]src[/\\]connection\.js/.test(error.stack ?? "");
}
let guarded = false;

/**
 * Opens a pool on `url`; connections are made on first use, with `limits` when given. `debug`
 * sees every statement.
 */
export function connectDatabase(
  url: string,
  options: {
    max?: number;
    limits?: SessionLimits | undefined;
    debug?: (connection: number, query: string) => void;
  } = {},
): Database {
  if (!guarded) {
    guarded = true;
    guardDroppedPools();
  }
  const limits = options.limits === undefined ? {} : {
    statement_timeout: options.limits.statementTimeoutMs,
    idle_in_transaction_session_timeout: options.limits.idleInTransactionMs,
  };
  return postgres(url, {
    max: options.max ?? 4,
    ...(options.debug ? { debug: options.debug } : {}),
    // camelCase in code, snake_case in SQL: result columns and insert-helper keys are converted.
    transform: postgres.camel,
    connect_timeout: 10,
    onnotice: () => {},
    // Sent as startup parameters: in force from the session's first statement.
    connection: { application_name: "vaultline", ...limits },
  });
}

/** The database's character encoding, as Postgres names it (`UTF8`, `LATIN1`, ...). */
export async function databaseEncoding(db: Database): Promise<string> {
  const [row] = await db<{ encoding: string }[]>`
    SELECT current_setting('server_encoding') AS encoding`;
  return row?.encoding ?? "unknown";
}

/**
 * Closes `db`. Bounded because postgres.js 3.4.9's `end()` waits forever on a connection that
 * failed mid-query (porsager/postgres#1097); after the timeout the connections are dropped.
 */
export async function closeDatabase(
  db: Database,
  { timeoutSeconds = CLOSE_TIMEOUT_SECONDS }: { timeoutSeconds?: number } = {},
): Promise<void> {
  await db.end({ timeout: timeoutSeconds });
}
