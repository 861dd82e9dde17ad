import assert from "node:assert/strict";
import { runCli } from "./cli.ts";

async function files(dir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(dir)) names.push(entry.name);
  return names.sort();
}

Deno.test("keys init writes a matching keyring pair, mode 0600, and refuses to overwrite", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const args = [
      "keys",
      "init",
      "--out",
      `${dir}/full.json`,
      "--ingest-out",
      `${dir}/ingest.json`,
    ];
    const first = await runCli(args);
    assert.equal(first.code, 0, first.stderr);
    const full = JSON.parse(await Deno.readTextFile(`${dir}/full.json`));
    const ingest = JSON.parse(await Deno.readTextFile(`${dir}/ingest.json`));
    assert.equal(full.kind, "full");
    assert.equal(ingest.kind, "ingest");
    assert.equal(ingest.keks[0].privateKey, undefined);
    assert.ok(full.keks[0].privateKey.d, "the full keyring holds the private scalar");
    assert.equal(full.keks[0].id, ingest.keks[0].id);
    assert.deepEqual(full.keks[0].publicKey, ingest.keks[0].publicKey);
    assert.equal(full.tokenKey.key, ingest.tokenKey.key);
    for (const name of ["full.json", "ingest.json"]) {
      assert.equal((await Deno.stat(`${dir}/${name}`)).mode! & 0o777, 0o600);
    }
    const second = await runCli(args);
    assert.equal(second.code, 2);
    assert.match(second.stderr, /file exists, refusing to overwrite/);
    assert.deepEqual(JSON.parse(await Deno.readTextFile(`${dir}/full.json`)), full);
    assert.deepEqual(await files(dir), ["full.json", "ingest.json"], "no temporary file is left");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("keys init leaves no file behind when it cannot write both", async (t) => {
  const dir = await Deno.makeTempDir();
  try {
    const cases: [string, string, string, number, RegExp][] = [
      [
        "the ingest keyring's directory is missing",
        "f.json",
        "missing-dir/g.json",
        2,
        /directory not found/,
      ],
      ["two spellings of one file", "i.json", "./i.json", 2, /name the same file/],
    ];
    for (const [name, out, ingestOut, code, pattern] of cases) {
      await t.step(name, async () => {
        const result = await runCli(
          ["keys", "init", "--out", `${dir}/${out}`, "--ingest-out", `${dir}/${ingestOut}`],
        );
        assert.equal(result.code, code, result.stderr);
        assert.match(result.stderr, pattern);
        assert.deepEqual(await files(dir), []);
      });
    }
    await t.step(
      "the ingest keyring's file exists: the full keyring is not left alone",
      async () => {
        await Deno.writeTextFile(`${dir}/taken.json`, "keep me");
        const result = await runCli(
          ["keys", "init", "--out", `${dir}/new.json`, "--ingest-out", `${dir}/taken.json`],
        );
        assert.equal(result.code, 2, result.stderr);
        assert.deepEqual(await files(dir), ["taken.json"]);
        assert.equal(await Deno.readTextFile(`${dir}/taken.json`), "keep me");
      },
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
