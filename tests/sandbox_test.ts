import assert from "node:assert/strict";
import { runDeno } from "./cli.ts";
import { sampleBodies } from "./vault_fixture.ts";

const ROOT = new URL("..", import.meta.url);

/**
 * The permission flags of `deno task compile`, as its task shell would pass them: the binary
 * holds exactly these.
 */
async function compileFlags(): Promise<string[]> {
  const { tasks } = JSON.parse(await Deno.readTextFile(new URL("deno.json", ROOT)));
  const words = String(tasks.compile).split(/\s+/);
  assert.deepEqual(words.slice(0, 2), ["deno", "compile"]);
  return words.slice(2, words.indexOf("--output"))
    .map((word) => word.replaceAll("$HOME", Deno.env.get("HOME") ?? ""));
}
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

Deno.test("the sandbox from a fresh copy: run drains the sample queue, the binary's own permissions seed, ingest and reveal, a last run finds nothing", async () => {
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

    // Exactly the compiled binary's permissions, through deno run: a missing one fails here.
    const binary = [...await compileFlags(), "main.ts"];
    const seeded = await runDeno(["run", ...binary, "seed", "--count", "30", "--seed", "5"], {
      cwd: dir,
    });
    assert.equal(seeded.code, 0, seeded.stderr);
    const second = await runDeno(["run", ...binary, "run", "--json"], { cwd: dir });
    assert.equal(second.code, 0, second.stderr);
    const summary = JSON.parse(second.stdout.trim().split("\n")[0]!);
    assert.equal(summary.received, 30);
    assert.equal(summary.inserted + summary.quarantined, 30);
    const revealed = await runDeno(
      ["run", ...binary, "reveal", "--token", token, "--reason", "sandbox test"],
      { cwd: dir },
    );
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

    const last = await runDeno(["task", "-q", "run"], { cwd: dir });
    assert.equal(last.code, 0, last.stderr);
    assert.equal(last.stdout.trim(), "Nothing new: the queue held no messages");
    assert.doesNotMatch(last.stderr, /Seeded/);

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

Deno.test("every task, and the binary, gets scoped permissions: named variables, paths and system calls", async () => {
  const { ENVIRONMENT_VARIABLES } = await import("../lib/settings.ts");
  const { tasks } = JSON.parse(await Deno.readTextFile(new URL("deno.json", ROOT)));
  const commandTasks = Object.entries(tasks as Record<string, string>).filter(([, line]) =>
    /^deno (run|compile) /.test(line) && line.includes("main.ts")
  );
  assert.ok(commandTasks.length >= 10, "a task per command");
  for (const [name, line] of commandTasks) {
    const words = line.split(/\s+/);
    assert.ok(!words.some((w) => w === "-A" || w === "--allow-all"), `${name} allows everything`);
    for (const kind of ["env", "read", "write", "sys"]) {
      const flag = words.find((w) => w.startsWith(`--allow-${kind}`));
      assert.ok(flag?.startsWith(`--allow-${kind}=`), `${name}: --allow-${kind} is not scoped`);
    }
    const env = words.find((w) => w.startsWith("--allow-env="))!.slice("--allow-env=".length);
    for (const variable of ENVIRONMENT_VARIABLES) {
      assert.ok(env.split(",").includes(variable), `${name} cannot read ${variable}`);
    }
    assert.ok(!words.includes("--allow-run") && !words.includes("--allow-ffi"), name);
  }
});
