import assert from "node:assert/strict";
import { cleanEnv } from "./cli.ts";
import { medianResults, type RunFigures } from "./bench/report.ts";
import { DATABASE_KIND } from "./test_database.ts";

const ROOT = new URL("..", import.meta.url);

/** The arguments of `deno task bench` after `deno`, as its task shell would pass them. */
async function benchTask(): Promise<string[]> {
  const { tasks } = JSON.parse(await Deno.readTextFile(new URL("deno.json", ROOT)));
  const words = String(tasks.bench).split(/\s+/);
  assert.deepEqual(words.slice(0, 2), ["deno", "run"]);
  return words.slice(1);
}

/** A tiny harness run takes well under a minute; this only keeps a hang from stalling the suite. */
const BENCH_DEADLINE_MS = 150_000;

Deno.test(`deno task bench --json with tiny counts drains exactly N with every contender on both corpora (${DATABASE_KIND})`, async () => {
  const serverUrl = Deno.env.get("DATABASE_URL") || undefined;
  const output = await new Deno.Command(Deno.execPath(), {
    args: [
      ...await benchTask(),
      "--n=300",
      "--naive-n=30",
      "--corpus=sample,unique",
      "--json",
      ...(serverUrl === undefined ? ["--pglite"] : []),
    ],
    cwd: ROOT,
    env: cleanEnv(serverUrl === undefined ? {} : { DATABASE_URL: serverUrl }),
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(BENCH_DEADLINE_MS),
  }).output();
  const stderr = new TextDecoder().decode(output.stderr);
  assert.equal(output.code, 0, stderr);
  const stdout = new TextDecoder().decode(output.stdout).trim();
  assert.equal(stdout.split("\n").length, 1, "one JSON object and nothing else on stdout");
  const summary = JSON.parse(stdout);
  assert.equal(summary.n, 300);
  assert.equal(summary.naiveN, 30);
  assert.equal(summary.rounds, 1);
  assert.equal(summary.concurrency, 4);
  assert.equal(summary.database, DATABASE_KIND);
  assert.deepEqual(summary.corpora, ["sample", "unique"]);
  assert.equal(summary.runs.length, 6);
  assert.deepEqual(
    summary.results.map((r: { corpus: string; contender: string; messages: number }) => [
      r.corpus,
      r.contender,
      r.messages,
    ]),
    [
      ["sample", "raw", 300],
      ["sample", "naive", 30],
      ["sample", "vaultline", 300],
      ["unique", "raw", 300],
      ["unique", "naive", 30],
      ["unique", "vaultline", 300],
    ],
  );
  for (const result of summary.results) {
    for (const figure of ["messagesPerSecond", "cpuMicrosPerMessage", "peakRssMib"]) {
      const value = result[figure];
      assert.ok(
        Number.isFinite(value) && value > 0,
        `${result.contender} ${result.corpus} ${figure}: ${value}`,
      );
    }
    assert.ok(result.sqsCpuMicrosPerMessage >= 0);
  }
  for (const run of summary.runs) {
    assert.ok(run.reportedSeconds > 0 && run.reportedSeconds <= run.wallSeconds, run.contender);
  }
  assert.deepEqual(
    summary.ratios.map((r: { corpus: string; contender: string }) => [r.corpus, r.contender]),
    [["sample", "vaultline"], ["unique", "vaultline"]],
  );
  for (const ratio of summary.ratios) {
    for (const figure of ["rateVsRaw", "cpuVsRaw", "rateVsNaive"]) {
      assert.ok(Number.isFinite(ratio[figure]) && ratio[figure] > 0, `${figure}: ${ratio[figure]}`);
    }
  }
});

Deno.test("medianResults() takes medians over rounds, the largest peak RSS, and ratios against raw and naive", () => {
  const run = (
    kind: RunFigures["kind"],
    contender: string,
    wallSeconds: number,
    peakRssMib = 100,
  ): RunFigures => ({
    corpus: "sample",
    contender,
    kind,
    messages: 1000,
    wallSeconds,
    cpuSeconds: wallSeconds / 2,
    sqsCpuSeconds: 0.1,
    peakRssMib,
    reportedSeconds: wallSeconds / 2,
  });
  const { results, ratios } = medianResults([
    run("raw", "raw", 1),
    run("naive", "naive", 10),
    run("vaultline", "vaultline (2 workers)", 2, 120),
    run("raw", "raw", 3),
    run("naive", "naive", 30),
    run("vaultline", "vaultline (2 workers)", 4, 150),
    run("raw", "raw", 2),
    run("naive", "naive", 20),
    run("vaultline", "vaultline (2 workers)", 3, 130),
  ]);
  assert.deepEqual(results.map((r) => [r.contender, r.rounds, r.messagesPerSecond]), [
    ["raw", 3, 500],
    ["naive", 3, 50],
    ["vaultline (2 workers)", 3, 1000 / 3],
  ]);
  assert.equal(results[2]!.peakRssMib, 150);
  assert.equal(results[2]!.cpuMicrosPerMessage, 1500);
  assert.equal(results[0]!.sqsCpuMicrosPerMessage, 100);
  assert.equal(ratios.length, 1);
  assert.equal(ratios[0]!.contender, "vaultline (2 workers)");
  assert.ok(Math.abs(ratios[0]!.rateVsRaw - 2 / 3) < 1e-9);
  assert.ok(Math.abs(ratios[0]!.cpuVsRaw - 1.5) < 1e-9);
  assert.ok(Math.abs(ratios[0]!.rateVsNaive - 20 / 3) < 1e-9);
});
