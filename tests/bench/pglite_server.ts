/**
 * The benchmark's embedded Postgres (PGlite, in memory), in a process of its own. Prints `{"url"}`
 * of a fresh database, and again for each `{"reset": true}` line on stdin, which discards the
 * database and starts a fresh one from a copy of the first. Exits when stdin closes.
 */
import { EmbeddedPostgres } from "../../lib/sandbox/embedded_postgres.ts";
import { jsonLines, printLine } from "./json_lines.ts";

// initdb dominates a start; later databases load a copy of the first's data directory.
let database = await EmbeddedPostgres.start();
const image = await database.dump();
try {
  printLine({ url: database.url });
  for await (const _reset of jsonLines(Deno.stdin.readable)) {
    await database.close();
    database = await EmbeddedPostgres.start({ image });
    printLine({ url: database.url });
  }
} finally {
  await database.close();
}
