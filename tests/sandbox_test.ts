import assert from "node:assert/strict";
import { runDeno } from "./cli.ts";
import { sampleBodies } from "./vault_fixture.ts";

const ROOT = new URL("..", import.meta.url);
/** What a clone holds that the sandbox runs from (tests aside). */
const PROJECT = ["main.ts", "deno.json", "deno.lock", "lib", "sql"];

async function copy(from: URL, to: string): Promise<void> {
  const info = await Deno.stat(from);
  if (!info.isDirectory) return await Deno.copyFile(from, to);
  await Deno.mkdir(to);
  for await (const entry of Deno.readDir(from)) {
    await copy(
      new URL(`${entry.name}${entry.isDirectory ? "/" : ""}`, `${from.href}/`),
      `${to}/${entry.name}`,
    );
  }
}

Deno.test("the sandbox from a fresh copy: run drains the sample queue, a second run finds nothing, reveal works", async () => {
  const dir = await Deno.makeTempDir();
  try {
    for (const name of PROJECT) await copy(new URL(name, ROOT), `${dir}/${name}`);
    // No DATABASE_URL, SQS_QUEUE_URL, VAULT_KEYRING or AWS credentials: the sandbox needs none.
    const first = await runDeno(["task", "-q", "run"], { cwd: dir });
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, /^Received 100 messages/);
    assert.match(first.stdout, /inserted {5}99 rows/);
    assert.match(first.stdout, /quarantined {2}1 /);
    assert.match(first.stdout, /deleted {6}100 /);
    assert.match(first.stderr, /Seeded the sandbox queue with 100 sample messages/);
    assert.match(first.stderr, /\.data\/postgres/);
    const token = /--token (ip1_[\w-]+)/.exec(first.stderr)?.[1];
    assert.ok(token, first.stderr);
    for (const name of ["keyring.json", "ingest.keyring.json"]) {
      assert.equal((await Deno.stat(`${dir}/.data/${name}`)).mode! & 0o777, 0o600);
    }

    const second = await runDeno(["task", "-q", "run"], { cwd: dir });
    assert.equal(second.code, 0, second.stderr);
    assert.equal(second.stdout.trim(), "Nothing new: the queue held no messages");
    assert.doesNotMatch(second.stderr, /Seeded/);

    const revealed = await runDeno([
      "task",
      "-q",
      "reveal",
      "--token",
      token,
      "--reason",
      "sandbox test",
    ], { cwd: dir });
    assert.equal(revealed.code, 0, revealed.stderr);
    const line = JSON.parse(revealed.stdout);
    assert.equal(line.token, token);
    assert.equal(line.field, "ip");
    assert.match(line.value, /^\d+\.\d+\.\d+\.\d+$/);
    const ips = sampleBodies().flatMap((body) => {
      const ip = (JSON.parse(body) as { ip?: unknown }).ip;
      return typeof ip === "string" ? [ip] : [];
    });
    assert.ok(ips.includes(line.value), "the revealed value is not a sample ip");

    // The owner's and the auditor's commands work on the sandbox's database as well.
    const migrated = await runDeno(["task", "-q", "migrate"], { cwd: dir });
    assert.equal(migrated.code, 0, migrated.stderr);
    assert.match(migrated.stdout, /^Nothing to apply: the schema is current/);
    const verified = await runDeno(["task", "-q", "audit", "verify"], { cwd: dir });
    assert.equal(verified.code, 0, verified.stderr);
    assert.match(verified.stdout, /^Audit chain intact: 1 rows, head #1:[0-9a-f]{64}$/m);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
