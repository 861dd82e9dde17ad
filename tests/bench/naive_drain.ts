/**
 * The floor contender, the exercise's typical loop: receive one message, mask `ip` and
 * `device_id` with SHA-256, insert one row into the exercise's `user_logins` (committed on its
 * own), delete the message. A body that is not a login becomes a row of what it has, as such
 * loops do. Stops after `--count` messages; prints `{"deleted", "seconds"}`.
 *
 * Usage: naive_drain.ts --queue-url URL --endpoint URL --database-url URL --count N
 */
import { createHash } from "node:crypto";
import { parseArgs } from "node:util";
import postgres from "postgres";
import { SqsQueue } from "../../lib/queue/sqs_queue.ts";
import { EMULATOR_CREDENTIALS } from "../../lib/sandbox/embedded_sqs.ts";
import { printLine } from "./json_lines.ts";

/** The exercise's table, which the harness creates before the run. */
export const NAIVE_TABLE_SQL = `
  CREATE TABLE user_logins (
    user_id           varchar(128),
    device_type       varchar(32),
    masked_ip         varchar(256),
    masked_device_id  varchar(256),
    locale            varchar(32),
    app_version       integer,
    create_date       date
  )`;

/** The row the typical loop makes of `body`. */
export function naiveRow(body: string): Record<string, string | number | null> {
  let login: Record<string, unknown> = {};
  try {
    const parsed: unknown = JSON.parse(body);
    if (typeof parsed === "object" && parsed !== null) login = parsed as Record<string, unknown>;
  } catch {
    // Not JSON: a row of nulls.
  }
  const text = (value: unknown) => typeof value === "string" ? value : null;
  const mask = (value: unknown) =>
    value === undefined || value === null
      ? null
      : createHash("sha256").update(String(value)).digest("hex");
  const version = Number(text(login.app_version)?.replaceAll(".", ""));
  return {
    user_id: text(login.user_id),
    device_type: text(login.device_type),
    masked_ip: mask(login.ip),
    masked_device_id: mask(login.device_id),
    locale: text(login.locale),
    app_version: Number.isSafeInteger(version) && Math.abs(version) < 2 ** 31 ? version : null,
    create_date: new Date().toISOString().slice(0, 10),
  };
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: {
      "queue-url": { type: "string" },
      endpoint: { type: "string" },
      "database-url": { type: "string" },
      count: { type: "string" },
    },
  });
  const count = Number(values.count);
  const queue = new SqsQueue(values["queue-url"] ?? "", {
    region: "us-east-1",
    endpoint: values.endpoint,
    credentials: EMULATOR_CREDENTIALS,
  });
  const sql = postgres(values["database-url"] ?? "", { max: 1, onnotice: () => {} });
  const started = performance.now();
  let deleted = 0;
  try {
    while (deleted < count) {
      const [message] = await queue.receive({ max: 1, waitSeconds: 1, visibilitySeconds: 60 });
      if (!message) continue;
      await sql`INSERT INTO user_logins ${sql(naiveRow(message.body))}`;
      const refused = await queue.delete([message]);
      if (refused.length > 0) throw new Error("Cannot delete a message: SQS refused it");
      deleted += 1;
    }
  } finally {
    queue.close();
    await sql.end({ timeout: 5 });
  }
  printLine({ deleted, seconds: (performance.now() - started) / 1000 });
}
