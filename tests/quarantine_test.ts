import assert from "node:assert/strict";
import { main } from "../main.ts";
import { quarantineReplay } from "../lib/cli/quarantine_replay.ts";
import { ingest } from "../lib/ingest/ingest.ts";
import { readKeyring } from "../lib/vault/keyring.ts";
import { tokenize } from "../lib/vault/token.ts";
import { runCli } from "./cli.ts";
import { counts, processSetup } from "./run_fixture.ts";
import { DATABASE_KIND } from "./test_database.ts";
import { ingestVault, sampleBodies } from "./vault_fixture.ts";

/** Three logins from tablets, which the test database refuses until its constraint goes. */
const TABLETS = [1, 2, 3].map((i) => ({
  user_id: `tablet-user-${i}`,
  app_version: "2.4.1",
  device_type: "tablet",
  ip: `198.51.100.${40 + i}`,
  locale: "FR",
  device_id: `tab-${i}-7731-0042`,
}));

Deno.test(`quarantine list counts by reason without bodies, and replay writes what passes today, once, audited (${DATABASE_KIND})`, async () => {
  await using setup = await processSetup();
  await setup.db`
    ALTER TABLE user_logins ADD CONSTRAINT no_tablets CHECK (device_type <> 'tablet')`;
  setup.send([...sampleBodies(), ...TABLETS.map((t) => JSON.stringify(t))]);
  const ingestKeyring = await readKeyring(setup.keyrings.ingest);
  const summary = await ingest({
    queue: setup.queue,
    connect: () => setup.database.connect({ max: 2 }),
    vault: ingestVault(ingestKeyring),
  }, { concurrency: 2, batchSize: 500, batchWaitMs: 100, untilEmpty: true });
  assert.equal(summary.quarantined, 4);
  const env = { ...setup.env(), VAULT_KEYRING: setup.keyrings.full };

  const list = await runCli(["quarantine", "list"], { env });
  assert.equal(list.code, 0, list.stderr);
  const [title, ...lines] = list.stdout.split("\n");
  assert.equal(title, "4 quarantined messages");
  assert.match(lines[0]!, /^ +3 {2}database error 23514 \(check_violation\) on "no_tablets"$/);
  assert.match(lines[1]!, /^ +1 {2}user_id is missing; app_version is missing; /);
  const ids = await setup.db<{ messageId: string }[]>`SELECT message_id FROM ingest_quarantine`;
  for (const { messageId } of ids) assert.ok(list.stdout.includes(messageId), messageId);
  for (const tablet of TABLETS) {
    for (const value of [tablet.ip, tablet.device_id, tablet.user_id]) {
      assert.ok(!list.stdout.includes(value) && !list.stderr.includes(value), "a body was shown");
    }
  }

  // With the constraint still there, the database refuses them again and they stay.
  const refused = await runCli(
    ["quarantine", "replay", "--reason", "INC-7: try again", "--matching", "no_tablets", "--json"],
    { env },
  );
  assert.equal(refused.code, 0, refused.stderr);
  assert.deepEqual(JSON.parse(refused.stdout), {
    examined: 3,
    written: 0,
    alreadyWritten: 0,
    stillRejected: 0,
    refused: 3,
  });
  assert.deepEqual(await counts(setup.db), { rows: 99, distinct: 99, quarantined: 4 });

  await setup.db`ALTER TABLE user_logins DROP CONSTRAINT no_tablets`;
  const replay = await runCli(
    ["quarantine", "replay", "--reason", "INC-7: tablets are allowed now", "--json"],
    { env },
  );
  assert.equal(replay.code, 0, replay.stderr);
  assert.deepEqual(JSON.parse(replay.stdout), {
    examined: 4,
    written: 3,
    alreadyWritten: 0,
    stillRejected: 1,
    refused: 0,
  });
  assert.deepEqual(await counts(setup.db), { rows: 102, distinct: 102, quarantined: 1 });
  // The rows carry the tokens the ingest would have written.
  for (const tablet of TABLETS) {
    const [row] = await setup.db<{ maskedIp: string; maskedDeviceId: string }[]>`
      SELECT masked_ip, masked_device_id FROM user_logins WHERE user_id = ${tablet.user_id}`;
    assert.deepEqual(row, {
      maskedIp: await tokenize(ingestKeyring.tokenKey, { field: "ip", value: tablet.ip }),
      maskedDeviceId: await tokenize(ingestKeyring.tokenKey, {
        field: "device_id",
        value: tablet.device_id,
      }),
    });
  }
  // Each replay was audited before anything was decrypted: reason, and the messages opened.
  const audit = await setup.db<
    { kind: string; reason: string; tokenCount: number; tokens: string[] }[]
  >`SELECT kind, reason, token_count, tokens FROM reveal_audit ORDER BY id`;
  assert.deepEqual(audit.map((row) => [row.kind, row.reason, row.tokenCount]), [
    ["replay", "INC-7: try again", 3],
    ["replay", "INC-7: tablets are allowed now", 4],
  ]);
  assert.deepEqual(
    audit[1]!.tokens.toSorted(),
    ids.map((row) => `quarantine:${row.messageId}`).toSorted(),
  );

  // Once only: a second replay finds the one the rules still reject, and writes nothing.
  const again = await runCli(["quarantine", "replay", "--reason", "INC-7: again", "--json"], {
    env,
  });
  assert.equal(again.code, 0, again.stderr);
  assert.equal(JSON.parse(again.stdout).written, 0);
  assert.deepEqual(await counts(setup.db), { rows: 102, distinct: 102, quarantined: 1 });
});

Deno.test(`quarantine replay refuses without a reason or with an ingest keyring (${DATABASE_KIND})`, async () => {
  await using setup = await processSetup();
  assert.throws(
    () => quarantineReplay.parse([], setup.env()),
    /^ConfigError: Missing --reason: a replay decrypts bodies and must say why, for the audit$/,
  );
  const errors: string[] = [];
  const error = console.error;
  console.error = (line: string) => errors.push(line);
  try {
    const code = await main(["quarantine", "replay", "--reason", "x"], setup.env());
    assert.equal(code, 2);
  } finally {
    console.error = error;
  }
  assert.match(errors.join("\n"), /it is an ingest keyring, without the private key/);
  assert.equal((await setup.db`SELECT 1 FROM reveal_audit`).length, 0);
});
