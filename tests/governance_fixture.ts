/** A vault with a few people, some sharing a value, written as the ingest writes them. */
import { type ParsedMessage, parseMessage } from "../lib/record/parse_message.ts";
import { readAudit } from "../lib/store/audit.ts";
import type { Database } from "../lib/store/database.ts";
import { migrate } from "../lib/store/migrate.ts";
import type { AuditRecord } from "../lib/vault/audit_chain.ts";
import {
  createKeyrings,
  importKeyring,
  type Keyring,
  writeKeyrings,
} from "../lib/vault/keyring.ts";
import { type PiiField, tokenize } from "../lib/vault/token.ts";
import { TestDatabase } from "./test_database.ts";
import { ingestVault, sealAndWrite } from "./vault_fixture.ts";

/** One login of the fixture. */
export interface Person {
  readonly userId: string;
  readonly ip: string;
  readonly deviceId: string;
}

/** Alice logs in twice from one device; Bob shares her IPv4 address; Carol shares nothing. */
export const PEOPLE: readonly Person[] = [
  { userId: "alice", ip: "203.0.113.7", deviceId: "AAAA-1111-2222" },
  { userId: "alice", ip: "2001:db8:abcd:12::1", deviceId: "AAAA-1111-2222" },
  { userId: "bob", ip: "203.0.113.7", deviceId: "BOB-9" },
  { userId: "carol", ip: "198.51.100.20", deviceId: "C-77" },
];

/** A reason the default policy accepts. */
export const REASON = "INC-4711: account takeover";

/** `people` as parsed queue messages with ids `<prefix>-<n>`. */
export function loginMessages(people: readonly Person[], prefix = "m"): ParsedMessage[] {
  return people.map((person, i) =>
    parseMessage({
      messageId: `${prefix}-${i + 1}`,
      body: JSON.stringify({
        user_id: person.userId,
        app_version: "1.2.3",
        device_type: "ios",
        ip: person.ip,
        locale: null,
        device_id: person.deviceId,
      }),
      sentAt: new Date("2026-11-25T12:00:00Z"),
    })
  );
}

/** The fixture, disposed with its database and keyring files. */
export interface GovernanceSetup extends AsyncDisposable {
  readonly database: TestDatabase;
  /** A pool of the database's owner. */
  readonly db: Database;
  readonly full: Keyring;
  readonly ingest: Keyring;
  readonly fullPath: string;
  readonly ingestPath: string;
  /** The token of a value, under the fixture's token key. */
  token(field: PiiField, value: string): Promise<string>;
  /** The environment of a command on this database, with the full keyring by default. */
  env(extra?: Record<string, string>): Record<string, string>;
  /** Every audit row, in id order. */
  audit(): Promise<AuditRecord[]>;
}

/**
 * A migrated database holding `PEOPLE` (Alice in one batch, the others in a second, so under two
 * data keys), and keyring files for it.
 */
export async function governanceSetup(): Promise<GovernanceSetup> {
  const database = await TestDatabase.create();
  const dir = await Deno.makeTempDir();
  try {
    const files = await createKeyrings();
    const fullPath = `${dir}/full.json`;
    const ingestPath = `${dir}/ingest.json`;
    await writeKeyrings([
      { path: fullPath, file: files.full },
      { path: ingestPath, file: files.ingest },
    ]);
    const full = await importKeyring(files.full);
    const ingest = await importKeyring(files.ingest);
    const db = database.connect();
    await migrate(db);
    const messages = loginMessages(PEOPLE);
    await db.begin((tx) => sealAndWrite(tx, messages.slice(0, 2), ingestVault(ingest)));
    await db.begin((tx) => sealAndWrite(tx, messages.slice(2), ingestVault(ingest)));
    return {
      database,
      db,
      full,
      ingest,
      fullPath,
      ingestPath,
      token: (field, value) => tokenize(full.tokenKey, { field, value }),
      env: (extra = {}) => ({
        DATABASE_URL: database.url,
        VAULT_KEYRING: fullPath,
        USER: "tester",
        ...extra,
      }),
      audit: () => readAudit(db),
      async [Symbol.asyncDispose]() {
        await database[Symbol.asyncDispose]();
        await Deno.remove(dir, { recursive: true });
      },
    };
  } catch (error) {
    await database[Symbol.asyncDispose]();
    await Deno.remove(dir, { recursive: true });
    throw error;
  }
}
