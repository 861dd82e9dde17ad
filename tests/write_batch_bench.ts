/**
 * The batch write (unnest) against the multi-row VALUES it replaced and against COPY of the same
 * rows, on real Postgres (DATABASE_URL): 500 logins and their 1,000 vault entries a batch,
 * each in its own transaction, commit included. The tables are emptied before each batch (not
 * timed), so every variant writes into the same state. COPY is the floor: it cannot skip a
 * message id already written, so it is not a replacement, only the measure of what the
 * statements cost on top of moving the bytes. Under Deno, postgres.js's socket runs without
 * TCP_NODELAY, and COPY's CopyDone, a small write right after the data, waits for the server's
 * delayed ACK (about 40 ms a COPY here): that stall, not Postgres, is most of COPY's time below.
 * The database is this file's own, dropped by its last bench.
 */
import { sealBatch } from "../lib/ingest/seal_batch.ts";
import { parseMessage } from "../lib/record/parse_message.ts";
import { generateLogins, seededRandom } from "../lib/sandbox/generate_logins.ts";
import type { Transaction } from "../lib/store/database.ts";
import { migrate } from "../lib/store/migrate.ts";
import { type BatchResult, type SealedBatch, writeBatch } from "../lib/store/write_batch.ts";
import { TestDatabase } from "./test_database.ts";
import { freshKeys } from "./vault_fixture.ts";

const GROUP = "batch write, 500 logins + 1,000 vault rows";
const OPTIONS = { group: GROUP, n: 60, warmup: 5 } as const;

if (!Deno.env.get("DATABASE_URL")) {
  console.log(
    `${GROUP}: skipped, it needs a real Postgres server: ` +
      "DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres deno bench -A tests/write_batch_bench.ts",
  );
  for (const name of ["writeBatch()", "multi-row VALUES", "COPY"]) {
    Deno.bench({ name, ...OPTIONS, ignore: true, fn: () => {} });
  }
} else {
  const database = await TestDatabase.create();
  const db = database.connect({ max: 2 });
  await migrate(db);
  const { vault } = await freshKeys();
  const sentAt = new Date("2026-11-25T12:00:00Z");
  const template = await sealBatch(
    generateLogins(500, { malformedShare: 0, random: seededRandom(10) }).map((body, i) =>
      parseMessage({ messageId: `m-${i}`, body, sentAt })
    ),
    vault,
  );
  let run = 0;
  /** The template batch under fresh message ids and tokens, after emptying the tables. */
  const nextBatch = async (): Promise<SealedBatch> => {
    await db`TRUNCATE user_logins, pii_vault, ingest_quarantine`;
    const suffix = (run++).toString(36).padStart(6, "0");
    const fresh = (token: string) => token.slice(0, -6) + suffix;
    return {
      ...template,
      logins: template.logins.map((row) => ({
        ...row,
        messageId: `${row.messageId}-${suffix}`,
        maskedIp: fresh(row.maskedIp),
        maskedDeviceId: fresh(row.maskedDeviceId),
      })),
      vault: template.vault.map((row) => ({ ...row, token: fresh(row.token) })),
    };
  };
  const check = (result: BatchResult, batch: SealedBatch) => {
    if (result.inserted !== batch.logins.length || result.newVaultEntries !== batch.vault.length) {
      throw new Error(`Cannot trust the bench: wrote ${JSON.stringify(result)}`);
    }
  };

  Deno.bench({
    name: "writeBatch(): unnest, one statement text a table",
    ...OPTIONS,
    baseline: true,
    async fn(b) {
      const batch = await nextBatch();
      b.start();
      const result = await db.begin((tx) => writeBatch(tx, batch));
      b.end();
      check(result, batch);
    },
  });

  Deno.bench({
    name: "multi-row VALUES, as writeBatch() was",
    ...OPTIONS,
    async fn(b) {
      const batch = await nextBatch();
      b.start();
      const result = await db.begin((tx) => writeBatchValues(tx, batch));
      b.end();
      check(result, batch);
    },
  });

  Deno.bench({
    name: "COPY FROM STDIN",
    ...OPTIONS,
    async fn(b) {
      const batch = await nextBatch();
      b.start();
      await db.begin((tx) => copyBatch(tx, batch));
      b.end();
    },
  });

  // A group after the measures' group, so it runs after them.
  let dropped = false;
  Deno.bench({
    name: "drop the bench database (not a measure)",
    group: `${GROUP}: cleanup`,
    n: 1,
    warmup: 0,
    async fn() {
      if (dropped) return;
      dropped = true;
      await database[Symbol.asyncDispose]();
    },
  });
}

/** writeBatch() before unnest: postgres.js multi-row VALUES, one statement text per row count. */
async function writeBatchValues(tx: Transaction, batch: SealedBatch): Promise<BatchResult> {
  const { dataKey } = batch;
  const [, vaultRows, loginRows] = await Promise.all([
    dataKey && tx`
      INSERT INTO vault_data_keys (id, kek_id, wrapped_key)
      VALUES (${dataKey.id}, ${dataKey.kekId}, ${dataKey.wrapped})
      ON CONFLICT (id) DO NOTHING`,
    tx`
      INSERT INTO pii_vault
        ${tx(batch.vault, "token", "field", "dataKeyId", "nonce", "ciphertext")}
      ON CONFLICT (token) DO NOTHING
      RETURNING token`,
    tx`
      INSERT INTO user_logins ${
      tx(
        batch.logins,
        "userId",
        "deviceType",
        "maskedIp",
        "maskedDeviceId",
        "locale",
        "appVersion",
        "createDate",
        "messageId",
      )
    }
      ON CONFLICT (message_id, create_date) DO NOTHING
      RETURNING message_id`,
  ]);
  return {
    inserted: loginRows.length,
    quarantined: [],
    duplicates: batch.messages - loginRows.length,
    newVaultEntries: vaultRows.length,
  };
}

/** The same rows by COPY in text format (no conflict handling: the floor, not a replacement). */
async function copyBatch(tx: Transaction, batch: SealedBatch): Promise<void> {
  const { dataKey } = batch;
  if (dataKey) {
    await tx`
      INSERT INTO vault_data_keys (id, kek_id, wrapped_key)
      VALUES (${dataKey.id}, ${dataKey.kekId}, ${dataKey.wrapped})
      ON CONFLICT (id) DO NOTHING`;
  }
  const bytea = (bytes: Uint8Array) => `\\\\x${bytes.toHex()}`;
  await copy(
    tx`COPY pii_vault (token, field, data_key_id, nonce, ciphertext) FROM STDIN`,
    batch.vault.map((r) =>
      [copyText(r.token), r.field, r.dataKeyId, bytea(r.nonce), bytea(r.ciphertext)].join("\t")
    ),
  );
  await copy(
    tx`COPY user_logins (user_id, device_type, masked_ip, masked_device_id, locale, app_version,
                         create_date, message_id) FROM STDIN`,
    batch.logins.map((r) =>
      [
        copyText(r.userId),
        copyText(r.deviceType),
        copyText(r.maskedIp),
        copyText(r.maskedDeviceId),
        r.locale === null ? "\\N" : copyText(r.locale),
        String(r.appVersion),
        r.createDate,
        copyText(r.messageId),
      ].join("\t")
    ),
  );
}

/**
 * Sends `lines` to the `COPY ... FROM STDIN` statement `query`; resolves once the server
 * completed it (postgres.js calls the stream's final callback on CommandComplete). One `end()`
 * rather than `stream.pipeline`, whose end-of-stream wait adds tens of ms under Deno.
 */
async function copy(query: ReturnType<Transaction>, lines: readonly string[]): Promise<void> {
  const stream = await query.writable();
  await new Promise<void>((resolve, reject) => {
    stream.once("error", reject);
    stream.end(lines.join("\n") + "\n", () => resolve());
  });
}

/** A text field of COPY's text format: backslash, tab, newline and carriage return escaped. */
function copyText(value: string): string {
  return value.replace(
    /[\\\t\n\r]/g,
    (c) => ({ "\\": "\\\\", "\t": "\\t", "\n": "\\n" })[c] ?? "\\r",
  );
}
