/** Connections to Postgres: one client library and one code path for real and embedded servers. */
import postgres from "postgres";

/** A connection pool. */
export type Database = postgres.Sql;

/** A transaction's connection, as handed out by `Database.begin`. */
export type Transaction = postgres.TransactionSql;

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
