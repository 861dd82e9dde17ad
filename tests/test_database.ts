/** A database of a test's own: a fresh one on DATABASE_URL's server, or embedded PGlite when unset. */
import postgres from "postgres";
import { parseDatabaseUrl } from "../lib/settings.ts";
import { closeDatabase, connectDatabase, type Database } from "../lib/store/database.ts";
import { EmbeddedPostgres } from "../lib/sandbox/embedded_postgres.ts";

const SERVER_URL = Deno.env.get("DATABASE_URL") || undefined;

/** Which server the suite runs against, for test names and messages. */
export const DATABASE_KIND = SERVER_URL === undefined ? "embedded PGlite" : "Postgres";

// initdb dominates an embedded start; later tests load a copy of the first fresh data directory.
let image: Promise<Blob> | undefined;

/** A database created for one test and dropped (or discarded) when disposed. */
export class TestDatabase implements AsyncDisposable {
  readonly url: string;
  readonly #pools: Database[] = [];
  readonly #dispose: () => Promise<void>;

  private constructor(url: string, dispose: () => Promise<void>) {
    this.url = url;
    this.#dispose = dispose;
  }

  /**
   * Creates an empty database; `encoding` (a real server only) gives it another encoding than
   * UTF-8, with the C locale.
   */
  static async create({ encoding }: { encoding?: string } = {}): Promise<TestDatabase> {
    if (SERVER_URL === undefined) {
      if (encoding !== undefined) throw new Error("Embedded PGlite databases are UTF-8 only");
      image ??= EmbeddedPostgres.start().then(async (fresh) => {
        try {
          return await fresh.dump();
        } finally {
          await fresh.close();
        }
      });
      const server = await EmbeddedPostgres.start({ image: await image });
      return new TestDatabase(server.url, () => server.close());
    }
    const name = `vaultline_test_${crypto.getRandomValues(new Uint8Array(6)).toHex()}`;
    const admin = postgres(SERVER_URL, { max: 1, onnotice: () => {} });
    try {
      if (encoding === undefined) await admin`CREATE DATABASE ${admin(name)}`;
      else {
        await admin.unsafe(
          `CREATE DATABASE ${name} ENCODING '${encoding.replace(/\W/g, "")}' ` +
            "LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0",
        );
      }
    } finally {
      await admin.end();
    }
    const url = parseDatabaseUrl(SERVER_URL);
    url.pathname = `/${name}`;
    return new TestDatabase(url.href, async () => {
      const admin = postgres(SERVER_URL, { max: 1, onnotice: () => {} });
      try {
        await admin`
          SELECT pg_terminate_backend(pid) FROM pg_stat_activity
          WHERE datname = ${name} AND pid <> pg_backend_pid()`;
        await admin`DROP DATABASE IF EXISTS ${admin(name)}`;
      } finally {
        await admin.end();
      }
    });
  }

  /** A pool on this database, closed when the database is disposed. */
  connect(options: Parameters<typeof connectDatabase>[1] = {}): Database {
    const pool = connectDatabase(this.url, options);
    this.#pools.push(pool);
    return pool;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await Promise.all(this.#pools.map((pool) => closeDatabase(pool)));
    await this.#dispose();
  }
}

/** The number of rows in `table`. */
export async function countRows(db: Database, table: string): Promise<number> {
  const [row] = await db<{ n: number }[]>`SELECT count(*)::int AS n FROM ${db(table)}`;
  return row!.n;
}

/** Messages written so far: `user_logins` rows plus `ingest_quarantine` rows. */
export async function countWritten(db: Database): Promise<number> {
  return await countRows(db, "user_logins") + await countRows(db, "ingest_quarantine");
}

/**
 * Holds `LOCK TABLE table` in a transaction of `db` until `release()`; resolves once the lock is
 * held. `ended` settles when the transaction does.
 */
export async function holdTableLock(
  db: Database,
  table: string,
): Promise<{ release: () => void; ended: Promise<void> }> {
  let release = () => {};
  const released = new Promise<void>((resolve) => (release = resolve));
  let locked = () => {};
  const lockHeld = new Promise<void>((resolve) => (locked = resolve));
  const ended = db.begin(async (tx) => {
    await tx`LOCK TABLE ${tx(table)} IN ACCESS EXCLUSIVE MODE`;
    locked();
    await released;
  }).then(() => {});
  await Promise.race([lockHeld, ended]);
  return { release, ended };
}
