import assert from "node:assert/strict";
import { ConfigError, parseCommand, type RunCommand } from "../lib/config.ts";
import { runCli } from "./cli.ts";

const REAL = {
  DATABASE_URL: "postgres://u:p@db:5432/app",
  SQS_QUEUE_URL: "https://sqs.eu-west-1.amazonaws.com/123456789012/login-queue",
  VAULT_KEYRING: "/keys/ingest.json",
  USER: "carol",
};

function run(args: string[], env: Record<string, string>): RunCommand {
  const command = parseCommand(["run", ...args], env);
  assert.equal(command.name, "run");
  return command as RunCommand;
}

function refused(args: string[], env: Record<string, string>, pattern: RegExp): void {
  assert.throws(() => parseCommand(args, env), (error: Error) => {
    assert.ok(error instanceof ConfigError, `not a ConfigError: ${error}`);
    assert.match(error.message, pattern);
    assert.ok(!error.message.includes("\n"), "one line");
    return true;
  });
}

Deno.test("parseCommand() reads a real deployment's settings with their defaults", () => {
  const command = run([], REAL);
  assert.deepEqual(command.settings, {
    databaseUrl: REAL.DATABASE_URL,
    sqsQueueUrl: REAL.SQS_QUEUE_URL,
    sqsEndpoint: undefined,
    awsRegion: "us-east-1",
    keyringPath: "/keys/ingest.json",
    dataDir: ".data",
    osUser: "carol",
  });
  assert.equal(command.untilEmpty, false);
  assert.equal(command.concurrency, 4);
  assert.equal(command.batchSize, 500);
  assert.equal(command.visibilitySeconds, 60);
  assert.equal(command.maxMessages, undefined);
  assert.equal(command.json, false);
});

Deno.test("parseCommand() defaults SQS_ENDPOINT to a non-AWS queue URL's origin", () => {
  const local = run([], {
    ...REAL,
    SQS_QUEUE_URL: "http://localhost:4566/000000000000/login-queue",
  });
  assert.equal(local.settings.sqsEndpoint, "http://localhost:4566");
  const explicit = run([], { ...REAL, SQS_ENDPOINT: "http://sqs.internal:9324/" });
  assert.equal(explicit.settings.sqsEndpoint, "http://sqs.internal:9324");
  const china = run([], { ...REAL, SQS_QUEUE_URL: "https://sqs.cn-north-1.amazonaws.com.cn/1/q" });
  assert.equal(china.settings.sqsEndpoint, undefined);
});

Deno.test("parseCommand() lets --keyring override VAULT_KEYRING and reads run's options", () => {
  const command = run(
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
      "--json",
    ],
    { ...REAL, AWS_REGION: "eu-west-1" },
  );
  assert.equal(command.settings.keyringPath, "/k.json");
  assert.equal(command.settings.awsRegion, "eu-west-1");
  assert.deepEqual(
    [
      command.untilEmpty,
      command.maxMessages,
      command.concurrency,
      command.batchSize,
      command.visibilitySeconds,
      command.json,
    ],
    [true, 10, 2, 100, 5, true],
  );
});

Deno.test("parseCommand() runs the sandbox, until empty, when neither queue nor database is set", () => {
  const command = run([], { USER: "dev" });
  assert.equal(command.settings.databaseUrl, undefined);
  assert.equal(command.settings.sqsQueueUrl, undefined);
  assert.equal(command.settings.keyringPath, ".data/ingest.keyring.json");
  assert.equal(command.untilEmpty, true);
  const reveal = parseCommand(["reveal", "--token", "t", "--reason", "r"], { USER: "dev" });
  assert.equal(reveal.name === "reveal" && reveal.settings.keyringPath, ".data/keyring.json");
});

Deno.test("parseCommand() refuses a bad or missing setting with one line naming it", async (t) => {
  const cases: [string, string[], Record<string, string>, RegExp][] = [
    [
      "a bad DATABASE_URL",
      ["run"],
      { ...REAL, DATABASE_URL: "mysql://x" },
      /^Invalid DATABASE_URL: scheme "mysql:"/,
    ],
    [
      "an unparsable DATABASE_URL",
      ["run"],
      { ...REAL, DATABASE_URL: "::" },
      /^Invalid DATABASE_URL/,
    ],
    [
      "a bad SQS_QUEUE_URL",
      ["run"],
      { ...REAL, SQS_QUEUE_URL: "login-queue" },
      /^Invalid SQS_QUEUE_URL "login-queue"/,
    ],
    ["a bad SQS_ENDPOINT", ["run"], { ...REAL, SQS_ENDPOINT: "ftp://x" }, /^Invalid SQS_ENDPOINT/],
    ["a bad AWS_REGION", ["run"], { ...REAL, AWS_REGION: "Mars" }, /^Invalid AWS_REGION "Mars"/],
    ["DATABASE_URL alone", ["run"], { DATABASE_URL: REAL.DATABASE_URL }, /^Missing SQS_QUEUE_URL/],
    [
      "SQS_QUEUE_URL alone",
      ["run"],
      { SQS_QUEUE_URL: REAL.SQS_QUEUE_URL },
      /^Missing DATABASE_URL/,
    ],
    ["no keyring for a real run", ["run"], { ...REAL, VAULT_KEYRING: "" }, /VAULT_KEYRING/],
    [
      "a bad --batch-size",
      ["run", "--batch-size", "5000"],
      REAL,
      /^Invalid --batch-size "5000": expected an integer from 1 to 1000/,
    ],
    ["a bad --concurrency", ["run", "--concurrency", "two"], REAL, /^Invalid --concurrency "two"/],
    ["an unknown option", ["run", "--fast"], REAL, /^Invalid arguments: .*--fast/],
    ["an unknown command", ["ingest"], REAL, /^Unknown command "ingest"/],
    ["reveal without a token", ["reveal", "--reason", "r"], REAL, /^Missing --token/],
    ["reveal without a reason", ["reveal", "--token", "t"], REAL, /^Missing --reason/],
    ["keys init without --out", ["keys", "init", "--ingest-out", "a"], REAL, /^Missing --out/],
    ["seed with a bad share", ["seed", "--malformed", "2"], REAL, /^Invalid --malformed "2"/],
  ];
  for (const [name, args, env, pattern] of cases) {
    await t.step(name, () => refused(args, env, pattern));
  }
});

Deno.test("parseCommand() never echoes DATABASE_URL, which may hold a password", () => {
  refused(["run"], { ...REAL, DATABASE_URL: "mysql://admin:hunter2@db/x" }, /^(?!.*hunter2)/);
});

Deno.test("the command line exits 2 on a bad setting and prints help for each command", async () => {
  const bad = await runCli(["run"], { env: { ...REAL, AWS_REGION: "nowhere" } });
  assert.equal(bad.code, 2);
  assert.equal(bad.stdout, "");
  assert.equal(
    bad.stderr,
    'vaultline: Invalid AWS_REGION "nowhere": expected a region like us-east-1\n',
  );
  for (const command of ["run", "reveal", "keys", "seed"]) {
    const help = await runCli([command, "--help"]);
    assert.equal(help.code, 0);
    assert.match(help.stdout, new RegExp(`^Usage: vaultline ${command}`));
  }
  const top = await runCli([]);
  assert.match(top.stdout, /Commands:/);
});

Deno.test("keys init writes a keyring pair once and refuses to overwrite", async () => {
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
    assert.equal(full.keks[0].id, ingest.keks[0].id);
    assert.equal(full.tokenKey.key, ingest.tokenKey.key);
    const second = await runCli(args);
    assert.equal(second.code, 2);
    assert.match(second.stderr, /file exists, refusing to overwrite/);
    assert.deepEqual(JSON.parse(await Deno.readTextFile(`${dir}/full.json`)), full);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
