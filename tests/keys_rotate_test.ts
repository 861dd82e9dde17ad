import assert from "node:assert/strict";
import { parseMessage } from "../lib/record/parse_message.ts";
import { EmbeddedSqs } from "../lib/sandbox/embedded_sqs.ts";
import { generateLogins, seededRandom } from "../lib/sandbox/generate_logins.ts";
import { createKeyrings, writeKeyrings } from "../lib/vault/keyring.ts";
import { finished, runCli, spawnCli } from "./cli.ts";
import { assertVaultOpens, dataKeysByKek, KEY_HOMES, keysSetup } from "./keys_fixture.ts";
import { countWritten, DATABASE_KIND } from "./test_database.ts";
import { waitFor, within } from "./wait.ts";

async function files(dir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(dir)) names.push(entry.name);
  return names.sort();
}

async function keyringPair(dir: string, name: string) {
  const pair = await createKeyrings();
  await writeKeyrings([
    { path: `${dir}/${name}.json`, file: pair.full },
    { path: `${dir}/${name}.ingest.json`, file: pair.ingest },
  ]);
  return pair;
}

Deno.test("keys rotate adds a KEK, rewrites the ingest keyring with its public half, and prints its id last", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const { full } = await keyringPair(dir, "k");
    const result = await runCli([
      "keys",
      "rotate",
      "--keyring",
      `${dir}/k.json`,
      "--ingest-out",
      `${dir}/k.ingest.json`,
    ]);
    assert.equal(result.code, 0, result.stderr);
    const id = result.stdout.trim().split("\n").at(-1);
    const rotated = JSON.parse(await Deno.readTextFile(`${dir}/k.json`));
    const ingest = JSON.parse(await Deno.readTextFile(`${dir}/k.ingest.json`));
    assert.deepEqual(rotated.keks.map((k: { id: string }) => k.id), [id, full.keks[0]!.id]);
    assert.deepEqual(rotated.keks[1], full.keks[0], "the older KEK is kept as it was");
    assert.ok(rotated.keks[0].privateKey.d);
    assert.deepEqual(
      ingest.keks,
      [{ ...rotated.keks[0], privateKey: undefined }].map((k) => {
        const { privateKey: _, ...rest } = k;
        return rest;
      }),
    );
    assert.deepEqual(rotated.tokenKey, full.tokenKey, "the token key never rotates");
    assert.deepEqual(ingest.tokenKey, full.tokenKey);
    for (const name of ["k.json", "k.ingest.json"]) {
      assert.equal((await Deno.stat(`${dir}/${name}`)).mode! & 0o777, 0o600);
    }
    assert.deepEqual(await files(dir), ["k.ingest.json", "k.json"], "no temporary file is left");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("keys rotate refuses, leaving every file as it was, when the ingest keyring cannot be written or is not its own", async (t) => {
  const dir = await Deno.makeTempDir();
  try {
    await keyringPair(dir, "k");
    await keyringPair(dir, "other");
    await Deno.writeTextFile(`${dir}/notes.txt`, "keep me");
    await Deno.link(`${dir}/k.json`, `${dir}/k-link.json`);
    const cases: [string, string, RegExp][] = [
      ["its directory is missing", "missing-dir/i.json", /directory not found/],
      ["another spelling of the full keyring", "./k.json", /name the same file/],
      ["a hard link to the full keyring", "k-link.json", /name the same file/],
      ["a file that is no keyring", "notes.txt", /not a vaultline keyring, refusing to overwrite/],
      ["another keyring's ingest keyring", "other.ingest.json", /holds another token key/],
      ["a full keyring", "other.json", /is a full keyring, refusing to overwrite/],
    ];
    const contents = async () =>
      Object.fromEntries(
        await Promise.all(
          (await files(dir)).map(async (name) => [name, await Deno.readTextFile(`${dir}/${name}`)]),
        ),
      );
    const before = await contents();
    for (const [name, ingestOut, pattern] of cases) {
      await t.step(name, async () => {
        const result = await runCli([
          "keys",
          "rotate",
          "--keyring",
          `${dir}/k.json`,
          "--ingest-out",
          `${dir}/${ingestOut}`,
        ]);
        assert.equal(result.code, 2, result.stderr);
        assert.match(result.stderr, pattern);
        assert.equal(result.stderr.trim().split("\n").length, 1, "one line of error");
        assert.equal(result.stdout, "");
        assert.deepEqual(await contents(), before);
      });
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a full keyring open to group or others is refused with the fix unless overridden; an open ingest keyring is warned about", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await keyringPair(dir, "k");
    const full = `${dir}/k.json`;
    await Deno.chmod(full, 0o640);
    const rotate = ["keys", "rotate", "--keyring", full, "--ingest-out", `${dir}/k.ingest.json`];
    const before = await Deno.readTextFile(full);
    for (const args of [["keys", "list", "--keyring", full], rotate]) {
      const result = await runCli(args);
      assert.equal(result.code, 2, result.stderr);
      assert.equal(
        result.stderr.trim(),
        `vaultline: Cannot use keyring "${full}": a full keyring open to group or others ` +
          `(mode 0640): run "chmod 600 ${full}", or pass --allow-readable-keyring`,
      );
    }
    assert.equal(await Deno.readTextFile(full), before);
    const brave = await runCli(["keys", "list", "--keyring", full, "--allow-readable-keyring"]);
    assert.equal(brave.code, 0, brave.stderr);
    assert.equal(brave.stdout.trim().split("\n").length, 2);

    await Deno.chmod(`${dir}/k.ingest.json`, 0o644);
    const ingest = await runCli(["keys", "list", "--keyring", `${dir}/k.ingest.json`]);
    assert.equal(ingest.code, 0, ingest.stderr);
    assert.match(ingest.stderr, /is open to group or others \(mode 0644\) and holds secret keys/);
    assert.equal(ingest.stdout.trim().split("\n").length, 2);
    // Rotating writes both files 0600 again.
    const rotated = await runCli([...rotate, "--allow-readable-keyring"]);
    assert.equal(rotated.code, 0, rotated.stderr);
    for (const name of ["k.json", "k.ingest.json"]) {
      assert.equal((await Deno.stat(`${dir}/${name}`)).mode! & 0o777, 0o600);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

for (const home of KEY_HOMES) {
  Deno.test(`keys rotate during a running ingest: it keeps writing, a restart wraps under the new KEK, every value opens (${home}, ${DATABASE_KIND})`, async () => {
    await using setup = await keysSetup(home);
    await using sqs = await EmbeddedSqs.start();
    const queueUrl = sqs.createQueue("login-queue");
    // With KMS, the ingest's credentials may only make data keys and MACs, as its IAM policy.
    setup.kms?.allow("ingest", ["GenerateDataKey", "GenerateMac"]);
    const env = {
      ...setup.env,
      SQS_QUEUE_URL: queueUrl,
      SQS_ENDPOINT: sqs.endpoint,
      VAULT_KEYRING: setup.ingestPath,
      AWS_ACCESS_KEY_ID: "ingest",
      AWS_SECRET_ACCESS_KEY: "x",
    };
    const bodies = generateLogins(300, { malformedShare: 0.02, random: seededRandom(9) });
    const send = (from: number, to: number) =>
      bodies.slice(from, to).forEach((body) => sqs.sendMessage("login-queue", body));
    const [, { id: first }] = (await setup.keys(["list", "--keyring", setup.fullPath])).stdout
      .trim().split("\n").map((line) => JSON.parse(line));

    send(0, 100);
    // A long poll cut off by the stop can leave messages in flight: let them return quickly. One
    // thread, so one data key a run (each worker makes its own).
    const child = spawnCli(
      ["run", "--workers", "1", "--batch-size", "50", "--visibility-timeout", "2"],
      { env },
    );
    const exited = finished(child);
    let ended: string | undefined;
    exited.then((result) => (ended = result.stderr));
    const written = async (n: number) => {
      assert.equal(ended, undefined, "the ingest exited early");
      return await countWritten(setup.db) === n;
    };
    try {
      await waitFor("the first 100 messages", () => written(100));
      const second = await setup.rotate();
      send(100, 200);
      await waitFor(
        "100 more after the rotation",
        async () => await countWritten(setup.db) === 200,
      );
      assert.deepEqual(
        await dataKeysByKek(setup.db),
        { [first]: 1 },
        "the keyring is read at start",
      );
      child.kill("SIGTERM");
      const stopped = await within("the ingest to stop", exited);
      assert.equal(stopped.code, 0, stopped.stderr);

      send(200, 300);
      const restarted = await runCli(["run", "--workers", "1", "--until-empty", "--json"], {
        env: { ...env, LOG_LEVEL: "warn" },
      });
      assert.equal(restarted.code, 0, restarted.stderr);
      assert.equal(restarted.stderr, "", "nothing to warn about");
      assert.equal(await countWritten(setup.db), 300);
      assert.deepEqual(await dataKeysByKek(setup.db), { [first]: 1, [second]: 1 });
    } finally {
      if (ended === undefined) child.kill("SIGKILL");
      await exited;
    }
    using full = await setup.load(setup.fullPath);
    const parsed = bodies.map((body, i) =>
      parseMessage({ messageId: `${i}`, body, sentAt: new Date() })
    );
    await assertVaultOpens(setup.db, full, parsed);
  });
}

Deno.test("two keys rotate at once both land: the keyring is locked while it changes", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const { full } = await keyringPair(dir, "k");
    const rotate = [
      "keys",
      "rotate",
      "--keyring",
      `${dir}/k.json`,
      "--ingest-out",
      `${dir}/k.ingest.json`,
    ];
    const results = await Promise.all([runCli(rotate), runCli(rotate), runCli(rotate)]);
    for (const result of results) assert.equal(result.code, 0, result.stderr);
    const ids = results.map((result) => result.stdout.trim());
    const rotated = JSON.parse(await Deno.readTextFile(`${dir}/k.json`));
    const ingest = JSON.parse(await Deno.readTextFile(`${dir}/k.ingest.json`));
    const kekIds = rotated.keks.map((k: { id: string }) => k.id);
    assert.equal(kekIds.length, 4, "no rotation was lost");
    assert.deepEqual(kekIds.slice(0, 3).sort(), ids.sort());
    assert.equal(kekIds[3], full.keks[0]!.id);
    assert.equal(ingest.keks[0].id, kekIds[0], "the ingest keyring wraps under the newest KEK");
    assert.deepEqual(await files(dir), ["k.ingest.json", "k.json"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
