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

/** Opens a pool on `url`; connections are made on first use. `debug` sees every statement. */
export function connectDatabase(
  url: string,
  options: { max?: number; debug?: (connection: number, query: string) => void } = {},
): Database {
  return postgres(url, {
    max: options.max ?? 4,
    ...(options.debug ? { debug: options.debug } : {}),
    // camelCase in code, snake_case in SQL: result columns and insert-helper keys are converted.
    transform: postgres.camel,
    connect_timeout: 10,
    onnotice: () => {},
    connection: { application_name: "vaultline" },
  });
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
