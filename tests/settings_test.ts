import assert from "node:assert/strict";
import { reveal } from "../lib/cli/reveal.ts";
import { run, type RunOptions } from "../lib/cli/run.ts";
import { seed } from "../lib/cli/seed.ts";
import { keysInit } from "../lib/cli/keys_init.ts";
import { ConfigError } from "../lib/config_error.ts";
import { readSettings } from "../lib/settings.ts";
import { COMMANDS, main } from "../main.ts";
import { runCli } from "./cli.ts";

const REAL = {
  DATABASE_URL: "postgres://u:p@db:5432/app",
  SQS_QUEUE_URL: "https://sqs.eu-west-1.amazonaws.com/123456789012/login-queue",
  VAULT_KEYRING: "/keys/ingest.json",
  USER: "carol",
};

function refused(parse: () => unknown, pattern: RegExp): void {
  assert.throws(parse, (error: Error) => {
    assert.ok(error instanceof ConfigError, `not a ConfigError: ${error}`);
    assert.match(error.message, pattern);
    assert.ok(!error.message.includes("\n"), "one line");
    return true;
  });
}

Deno.test("readSettings() reads a deployment's settings with their defaults", () => {
  assert.deepEqual(readSettings(REAL), {
    mode: "deployed",
    databaseUrl: REAL.DATABASE_URL,
    queue: { url: REAL.SQS_QUEUE_URL, endpoint: undefined, region: "us-east-1" },
    keyringPath: "/keys/ingest.json",
    osUser: "carol",
  });
});

Deno.test("readSettings() is the sandbox when neither queue nor database is set", () => {
  assert.deepEqual(readSettings({ USER: "dev", SQS_ENDPOINT: "http://ignored:1" }), {
    mode: "sandbox",
    dataDir: ".data",
    keyringPath: undefined,
    osUser: "dev",
  });
});

Deno.test("readSettings() defaults SQS_ENDPOINT to a non-AWS queue URL's origin", () => {
  const endpoint = (env: Record<string, string>) => {
    const settings = readSettings({ ...REAL, ...env });
    assert.equal(settings.mode, "deployed");
    return settings.mode === "deployed" ? settings.queue?.endpoint : "";
  };
  assert.equal(
    endpoint({ SQS_QUEUE_URL: "http://localhost:4566/000000000000/login-queue" }),
    "http://localhost:4566",
  );
  assert.equal(endpoint({ SQS_ENDPOINT: "http://sqs.internal:9324/" }), "http://sqs.internal:9324");
  assert.equal(
    endpoint({ SQS_QUEUE_URL: "https://sqs.cn-north-1.amazonaws.com.cn/1/q" }),
    undefined,
  );
});

Deno.test("run's options: --keyring overrides VAULT_KEYRING, and each option is read", () => {
  const options: RunOptions = run.parse(
    [
      "--keyring",
      "/k.json",
      "--until-empty",
      "--max-messages",
      "10",
      "--concurrency",
      "2",
      "--batch-size",
      "100",
      "--visibility-timeout",
      "5",
      "--write-timeout",
      "7",
      "--stop-timeout",
      "3",
      "--max-in-flight-mib",
      "16",
      "--json",
      "--verbose",
    ],
    { ...REAL, AWS_REGION: "eu-west-1" },
  );
  assert.equal(options.keyringPath, "/k.json");
  assert.equal(options.settings.mode === "deployed" && options.settings.queue?.region, "eu-west-1");
  assert.deepEqual(
    [
      options.untilEmpty,
      options.maxMessages,
      options.concurrency,
      options.batchSize,
      options.visibilitySeconds,
      options.writeTimeoutSeconds,
      options.stopTimeoutSeconds,
      options.maxInFlightBytes,
      options.json,
      options.verbose,
    ],
    [true, 10, 2, 100, 5, 7, 3, 16 * 1024 * 1024, true, true],
  );
  const defaults = run.parse([], REAL);
  assert.deepEqual(
    [defaults.untilEmpty, defaults.maxMessages, defaults.concurrency, defaults.batchSize],
    [false, undefined, 4, 500],
  );
  assert.deepEqual(
    [
      defaults.visibilitySeconds,
      defaults.writeTimeoutSeconds,
      defaults.stopTimeoutSeconds,
      defaults.maxInFlightBytes,
      defaults.verbose,
    ],
    [60, 60, 10, 8 * 1024 * 1024, false],
  );
});

Deno.test("run in the sandbox drains until empty with the sandbox's ingest keyring", () => {
  const options = run.parse([], { USER: "dev" });
  assert.equal(options.settings.mode, "sandbox");
  assert.equal(options.keyringPath, ".data/ingest.keyring.json");
  assert.equal(options.untilEmpty, true);
  assert.equal(
    reveal.parse(["--token", "t", "--reason", "r"], {}).keyringPath,
    ".data/keyring.json",
  );
});

Deno.test("a bad or missing setting is refused with one line naming it", async (t) => {
  const cases: [string, () => unknown, RegExp][] = [
    [
      "a bad DATABASE_URL",
      () => run.parse([], { ...REAL, DATABASE_URL: "mysql://x" }),
      /^Invalid DATABASE_URL: scheme "mysql:"/,
    ],
    [
      "an unparsable DATABASE_URL",
      () => run.parse([], { ...REAL, DATABASE_URL: "::" }),
      /^Invalid DATABASE_URL/,
    ],
    [
      "a bad SQS_QUEUE_URL",
      () => run.parse([], { ...REAL, SQS_QUEUE_URL: "login-queue" }),
      /^Invalid SQS_QUEUE_URL "login-queue"/,
    ],
    [
      "a bad SQS_ENDPOINT",
      () => run.parse([], { ...REAL, SQS_ENDPOINT: "ftp://x" }),
      /^Invalid SQS_ENDPOINT/,
    ],
    [
      "a bad AWS_REGION",
      () => run.parse([], { ...REAL, AWS_REGION: "Mars" }),
      /^Invalid AWS_REGION "Mars"/,
    ],
    [
      "DATABASE_URL alone",
      () => run.parse([], { DATABASE_URL: REAL.DATABASE_URL }),
      /^Missing SQS_QUEUE_URL/,
    ],
    [
      "SQS_QUEUE_URL alone",
      () => run.parse([], { SQS_QUEUE_URL: REAL.SQS_QUEUE_URL }),
      /^Missing DATABASE_URL/,
    ],
    [
      "no keyring for a real run",
      () => run.parse([], { ...REAL, VAULT_KEYRING: "" }),
      /VAULT_KEYRING/,
    ],
    [
      "a bad --batch-size",
      () => run.parse(["--batch-size", "5000"], REAL),
      /^Invalid --batch-size "5000": expected an integer from 1 to 1000/,
    ],
    [
      "a bad --concurrency",
      () => run.parse(["--concurrency", "two"], REAL),
      /^Invalid --concurrency "two"/,
    ],
    [
      "a zero --stop-timeout",
      () => run.parse(["--stop-timeout", "0"], REAL),
      /^Invalid --stop-timeout "0": expected an integer from 1 to 3600/,
    ],
    [
      "a bad --max-in-flight-mib",
      () => run.parse(["--max-in-flight-mib", "0.5"], REAL),
      /^Invalid --max-in-flight-mib "0\.5"/,
    ],
    ["an unknown option", () => run.parse(["--fast"], REAL), /^Invalid arguments: .*--fast/],
    ["reveal without a token", () => reveal.parse(["--reason", "r"], REAL), /^Missing --token/],
    ["reveal without a reason", () => reveal.parse(["--token", "t"], REAL), /^Missing --reason/],
    [
      "keys init without --out",
      () => keysInit.parse(["--ingest-out", "a"], REAL),
      /^Missing --out/,
    ],
    [
      "seed with a bad share",
      () => seed.parse(["--malformed", "2"], REAL),
      /^Invalid --malformed "2"/,
    ],
  ];
  for (const [name, parse, pattern] of cases) {
    await t.step(name, () => refused(parse, pattern));
  }
});

Deno.test("a URL setting that carries a password is never echoed", () => {
  refused(
    () => readSettings({ ...REAL, DATABASE_URL: "mysql://admin:hunter2@db/x" }),
    /^(?!.*hunter2)/,
  );
  refused(
    () => readSettings({ ...REAL, SQS_QUEUE_URL: "ftp://admin:hunter2@sqs/q" }),
    /^Invalid SQS_QUEUE_URL "ftp:\/\/admin:\*\*\*@sqs\/q"/,
  );
});

Deno.test("main() lists every command and prints each one's help", async () => {
  const printed: string[] = [];
  const log = console.log;
  console.log = (text: string) => printed.push(text);
  try {
    assert.equal(await main(["--help"], {}), 0, "the hint of an unknown command works");
    printed.length = 0;
    assert.equal(await main([], {}), 0);
    for (const command of COMMANDS) {
      const lines = printed[0]!.split("\n");
      assert.ok(
        lines.some((line) =>
          line.startsWith(`  ${command.name} `) && line.endsWith(command.summary)
        ),
        `${command.name} is not listed`,
      );
    }
    for (const command of COMMANDS) {
      printed.length = 0;
      assert.equal(await main([...command.name.split(" "), "--help"], {}), 0);
      assert.ok(printed[0]!.startsWith(`Usage: vaultline ${command.name}`), printed[0]);
    }
  } finally {
    console.log = log;
  }
});

Deno.test("the command line exits 2 on a bad setting or command, with one line", async () => {
  const bad = await runCli(["run"], { env: { ...REAL, AWS_REGION: "nowhere" } });
  assert.equal(bad.code, 2);
  assert.equal(bad.stdout, "");
  assert.equal(
    bad.stderr,
    'vaultline: Invalid AWS_REGION "nowhere": expected a region like us-east-1\n',
  );
  const unknown = await runCli(["ingest"]);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /^vaultline: Unknown command "ingest"[^\n]*\n$/);
  const action = await runCli(["keys", "destroy"]);
  assert.equal(action.code, 2);
  assert.match(action.stderr, /^vaultline: Unknown keys action "destroy": expected init[^\n]*\n$/);
});
