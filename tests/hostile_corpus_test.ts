/**
 * No personal data in any output: the sample queue and a hostile corpus, drained with the most
 * verbose logging, then stdout, stderr and a full dump of the database scanned for every raw ip
 * and device_id of the input, in the clear and as hex.
 */
import assert from "node:assert/strict";
import type { Database } from "../lib/store/database.ts";
import { canonicalize } from "../lib/vault/token.ts";
import { runCli } from "./cli.ts";
import { processSetup, QUEUE, summaryOf } from "./run_fixture.ts";
import { DATABASE_KIND } from "./test_database.ts";
import { sampleBodies } from "./vault_fixture.ts";

/** A message of the corpus and the personal values it carries, however malformed it is. */
interface Hostile {
  readonly body: string;
  readonly ips: readonly string[];
  readonly deviceIds: readonly string[];
}

const LOGIN = {
  user_id: "hostile-user",
  app_version: "3.1.4",
  device_type: "android",
  locale: "DE",
};
const NEAR_256_KIB = 250 * 1024;

/** The hostile corpus: one message per way a body can go wrong, each with values of its own. */
function hostileCorpus(): Hostile[] {
  const login = (n: number, fields: Record<string, unknown> = {}) => ({
    ...LOGIN,
    ip: `203.0.113.${n}`,
    device_id: `hostile-dev-${String(n).padStart(4, "0")}`,
    ...fields,
  });
  const of = (n: number): Pick<Hostile, "ips" | "deviceIds"> => ({
    ips: [`203.0.113.${n}`],
    deviceIds: [`hostile-dev-${String(n).padStart(4, "0")}`],
  });
  const json = (n: number, fields: Record<string, unknown> = {}): Hostile => ({
    body: JSON.stringify(login(n, fields)),
    ...of(n),
  });
  const nested = (depth: number, inner: string) => "[".repeat(depth) + inner + "]".repeat(depth);
  return [
    // Not JSON.
    { body: JSON.stringify(login(1)).slice(0, -2), ...of(1) },
    { body: `ip=203.0.113.2&device_id=hostile-dev-0002`, ...of(2) },
    // Wrong types.
    json(3, { ip: ["203.0.113.3"], device_id: { value: "hostile-dev-0003" } }),
    {
      body: JSON.stringify(login(4, { ip: 3405803780, device_id: 4004 })),
      ips: ["3405803780"],
      deviceIds: [],
    },
    { body: JSON.stringify([login(5)]), ...of(5) },
    { body: JSON.stringify("203.0.113.6 hostile-dev-0006"), ...of(6) },
    // Deep nesting, inside and around a login.
    { body: JSON.stringify({ ...login(7), extra: JSON.parse(nested(3000, "1")) }), ...of(7) },
    { body: nested(5000, JSON.stringify(login(8))), ...of(8) },
    // Bodies near SQS's 256 KiB: a huge device_id (tokenized), a huge ip (not an address, so
    // tokenized as given), and a huge body that is not JSON.
    json(9, { device_id: `hostile-dev-0009-${"Z".repeat(NEAR_256_KIB)}` }),
    json(10, { ip: `203.0.113.10${"9".repeat(NEAR_256_KIB)}` }),
    { body: `${JSON.stringify(login(11))}${" ".repeat(NEAR_256_KIB)}x`, ...of(11) },
    // NUL, lone surrogates, a byte-order mark.
    json(12, { user_id: "hostile\u0000user" }),
    json(13, { device_id: "hostile-dev-0013\u0000tail" }),
    json(14, { device_id: "hostile-dev-0014\ud800" }),
    json(15, { ip: "203.0.113.15\udfff" }),
    { body: `\ufeff${JSON.stringify(login(16))}`, ...of(16) },
    // Duplicate keys: the last wins; both values are personal.
    {
      body: `{"user_id":"dup","app_version":"1.0","device_type":"ios","ip":"203.0.113.17",` +
        `"ip":"203.0.113.18","device_id":"hostile-dev-0017","device_id":"hostile-dev-0018"}`,
      ips: ["203.0.113.17", "203.0.113.18"],
      deviceIds: ["hostile-dev-0017", "hostile-dev-0018"],
    },
    // __proto__ carrying the fields, and as a field beside them.
    {
      body: `{"__proto__":{"ip":"203.0.113.19","device_id":"hostile-dev-0019"},"user_id":"p",` +
        `"app_version":"1.0","device_type":"ios"}`,
      ...of(19),
    },
    { body: JSON.stringify({ ...login(20), ["__proto__"]: { polluted: true } }), ...of(20) },
    // SQL fragments in every field.
    json(21, {
      user_id: "x'); DROP TABLE user_logins; --",
      device_id: "hostile-dev-0021'; DELETE FROM pii_vault; --",
      locale: "'; SELECT pg_sleep(10); --",
    }),
    // Non-Latin text and non-canonical addresses.
    {
      body: JSON.stringify(
        login(22, { user_id: "пользователь-用户", device_id: "устройство-0022-设备" }),
      ),
      ips: ["203.0.113.22"],
      deviceIds: ["устройство-0022-设备"],
    },
    {
      body: JSON.stringify(login(23, { ip: "2001:DB8:0:0:0:0:0:23" })),
      ips: ["2001:DB8:0:0:0:0:0:23"],
      deviceIds: ["hostile-dev-0023"],
    },
    json(24, { ip: "::FFFF:203.0.113.24" }),
    // Over-long fields and a bad app_version: quarantined, with their values sealed.
    json(25, { user_id: "u".repeat(200) }),
    json(26, { device_type: "d".repeat(40), locale: "l".repeat(40) }),
    json(27, { app_version: "latest" }),
    // A row the database refuses (a constraint the record rules know nothing of): isolated.
    json(28, { user_id: "hostile-poison" }),
  ];
}

/**
 * The forms a value must never take in output: as given and canonical, well-formed, JSON-escaped,
 * cut short (its first 24 characters, or its leading run of plain characters), and as UTF-8 hex.
 */
function forms(field: "ip" | "device_id", value: string): string[] {
  const texts = new Set<string>();
  for (const text of [value, canonicalize(field, value)]) {
    texts.add(text);
    texts.add(text.toWellFormed());
    texts.add(JSON.stringify(text).slice(1, -1));
    if (text.length > 24) texts.add(text.slice(0, 24));
    const plain = /^[\w.:-]{10,}/.exec(text)?.[0];
    if (plain !== undefined) texts.add(plain);
  }
  const hex = [...texts].map((text) => new TextEncoder().encode(text.toWellFormed()).toHex());
  return [...texts, ...hex, ...hex.map((h) => h.toUpperCase())];
}

/** Every place `text` holds a form of a personal value, as `field: value`. */
function leaks(text: string, values: readonly { field: "ip" | "device_id"; value: string }[]) {
  return values.flatMap(({ field, value }) =>
    forms(field, value).filter((form) => text.includes(form)).map((form) =>
      `${field} ${JSON.stringify(value.slice(0, 40))} as ${JSON.stringify(form.slice(0, 40))}`
    )
  );
}

/** The whole database as text: `pg_dump` on a real server, each table as JSON on PGlite. */
async function dumpDatabase(url: string, db: Database): Promise<string> {
  if (DATABASE_KIND === "Postgres") {
    const output = await new Deno.Command("pg_dump", { args: ["--no-owner", url] }).output();
    assert.equal(output.code, 0, new TextDecoder().decode(output.stderr));
    return new TextDecoder().decode(output.stdout);
  }
  const tables = await db<{ tableName: string }[]>`
    SELECT table_name FROM information_schema.tables
    WHERE table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY table_name`;
  const parts = await Promise.all(tables.map(async ({ tableName }) => {
    const [row] = await db<{ rows: string | null }[]>`
      SELECT json_agg(t)::text AS rows FROM ${db(tableName)} t`;
    return `-- ${tableName}\n${row?.rows ?? ""}`;
  }));
  return parts.join("\n");
}

const DUMP = DATABASE_KIND === "Postgres" ? "a full pg_dump" : "every table dumped through SQL";

Deno.test(`no raw ip or device_id of the sample queue and a hostile corpus reaches stdout, stderr or ${DUMP}, and every message is accounted for (${DATABASE_KIND})`, async () => {
  await using setup = await processSetup();
  await setup.db`
    ALTER TABLE user_logins ADD CONSTRAINT no_poison CHECK (user_id <> 'hostile-poison')`;
  const hostile = hostileCorpus();
  const bodies = [...sampleBodies(), ...hostile.map((h) => h.body)];
  const sent = bodies.map((body) => setup.sqs.sendMessage(QUEUE, body));
  const values = [
    ...sampleBodies().flatMap((body) => {
      const { ip, device_id } = JSON.parse(body);
      return [
        ...(typeof ip === "string" ? [{ field: "ip" as const, value: ip }] : []),
        ...(typeof device_id === "string"
          ? [{ field: "device_id" as const, value: device_id }]
          : []),
      ];
    }),
    ...hostile.flatMap((h) => [
      ...h.ips.map((value) => ({ field: "ip" as const, value })),
      ...h.deviceIds.map((value) => ({ field: "device_id" as const, value })),
    ]),
  ];
  // The scanner finds what it looks for: every value is in the input, in one form or another.
  assert.ok(values.length > 200);
  const input = bodies.join("\n");
  for (const value of values) assert.notDeepEqual(leaks(input, [value]), [], value.value);

  const result = await runCli(
    ["run", "--until-empty", "--json", "--verbose", "--batch-size", "50"],
    {
      env: setup.env(),
    },
  );
  assert.equal(result.code, 0, result.stderr);
  const summary = summaryOf(result.stdout);
  assert.equal(summary.received, sent.length);
  assert.equal(summary.left, 0);
  // The logs are JSON lines (stderr is no terminal): the poison message's line names the code.
  const logs = result.stderr.trim().split("\n").map((line) => JSON.parse(line));
  assert.ok(
    logs.some((entry) =>
      entry.event === "quarantined" &&
      entry.reason === 'database error 23514 (check_violation) on "no_poison"'
    ),
    result.stderr,
  );

  // Every message is a row or quarantined, once.
  const written = await setup.db<{ messageId: string; table: string }[]>`
    SELECT message_id, 'user_logins' AS table FROM user_logins
    UNION ALL SELECT message_id, 'ingest_quarantine' FROM ingest_quarantine`;
  assert.deepEqual(written.map((row) => row.messageId).toSorted(), sent.toSorted());

  const dump = await dumpDatabase(setup.database.url, setup.db);
  const [token] = await setup.db<{ maskedIp: string }[]>`SELECT masked_ip FROM user_logins LIMIT 1`;
  assert.ok(dump.includes(token!.maskedIp) && dump.includes("ingest_quarantine"), "an empty dump");
  for (
    const [name, text] of [["stdout", result.stdout], ["stderr", result.stderr], ["the dump", dump]]
  ) {
    assert.deepEqual(leaks(text!, values), [], `personal values in ${name}`);
  }
});
