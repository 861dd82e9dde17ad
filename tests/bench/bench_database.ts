/** A fresh database for each contender run: on DATABASE_URL's server, or in embedded PGlite. */
import postgres from "postgres";
import { ServerProcess } from "./server_process.ts";

/** Where the benchmark's databases come from; `fresh()` makes an empty one. */
export interface BenchDatabases extends AsyncDisposable {
  /** "Postgres" or "embedded PGlite", for the report. */
  readonly kind: string;
  /** An empty database's URL; the previous one is dropped. */
  fresh(): Promise<string>;
}

/** Databases created on the server of `serverUrl` and dropped after use. */
export function postgresDatabases(serverUrl: string): BenchDatabases {
  let current: string | undefined;
  const admin = () => postgres(serverUrl, { max: 1, onnotice: () => {} });
  const drop = async () => {
    if (current === undefined) return;
    const name = current;
    current = undefined;
    const sql = admin();
    try {
      await sql`
        SELECT pg_terminate_backend(pid) FROM pg_stat_activity
        WHERE datname = ${name} AND pid <> pg_backend_pid()`;
      await sql`DROP DATABASE IF EXISTS ${sql(name)}`;
    } finally {
      await sql.end({ timeout: 5 });
    }
  };
  return {
    kind: "Postgres",
    async fresh() {
      await drop();
      const name = `vaultline_bench_${crypto.getRandomValues(new Uint8Array(6)).toHex()}`;
      const sql = admin();
      try {
        await sql`CREATE DATABASE ${sql(name)}`;
        // Flushes what the previous run dirtied now, not while the next contender is measured.
        await sql`CHECKPOINT`.catch(() => {});
      } finally {
        await sql.end({ timeout: 5 });
      }
      current = name;
      const url = new URL(serverUrl);
      url.pathname = `/${name}`;
      return url.href;
    },
    [Symbol.asyncDispose]: drop,
  };
}

/** Embedded PGlite in a process of its own, started afresh for each database. */
export async function pgliteDatabases(env: Record<string, string>): Promise<BenchDatabases> {
  const { server, first } = await ServerProcess.start(
    new URL("./pglite_server.ts", import.meta.url),
    { permissions: ["--allow-net", "--allow-read", "--allow-env"], env },
  );
  let url: string | undefined = (first as { url: string }).url;
  return {
    kind: "embedded PGlite",
    async fresh() {
      if (url !== undefined) {
        const fresh = url;
        url = undefined;
        return fresh;
      }
      return ((await server.request({ reset: true })) as { url: string }).url;
    },
    [Symbol.asyncDispose]: () => server.close(),
  };
}
