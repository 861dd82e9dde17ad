import assert from "node:assert/strict";
import { auditList } from "../lib/cli/audit_list.ts";
import { auditVerify } from "../lib/cli/audit_verify.ts";
import { forget } from "../lib/cli/forget.ts";
import { reveal } from "../lib/cli/reveal.ts";
import { run, type RunOptions } from "../lib/cli/run.ts";
import { seed } from "../lib/cli/seed.ts";
import { keysInit } from "../lib/cli/keys_init.ts";
import { keysList } from "../lib/cli/keys_list.ts";
import { keysRetire } from "../lib/cli/keys_retire.ts";
import { keysRewrap } from "../lib/cli/keys_rewrap.ts";
import { keysRotate } from "../lib/cli/keys_rotate.ts";
import { ConfigError } from "../lib/config_error.ts";
import { readSettings } from "../lib/settings.ts";
import { DEFAULT_REVEAL_POLICY } from "../lib/store/reveal_policy.ts";
import { COMMANDS, main } from "../main.ts";
import { runCli } from "./cli.ts";

const TOKEN = `ip1_${"x".repeat(32)}`;

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
    s3: { endpoint: undefined, region: "us-east-1" },
    osUser: "carol",
    revealPolicy: DEFAULT_REVEAL_POLICY,
    kms: { region: "us-east-1", endpoint: undefined, kekKeyId: undefined, tokenKeyId: undefined },
    log: { level: "info", format: "auto" },
  });
});

Deno.test("readSettings() is the sandbox when neither queue nor database is set", () => {
  assert.deepEqual(readSettings({ USER: "dev", SQS_ENDPOINT: "http://ignored:1" }), {
    mode: "sandbox",
    dataDir: ".data",
    keyringPath: undefined,
    s3: { endpoint: undefined, region: "us-east-1" },
    osUser: "dev",
    revealPolicy: DEFAULT_REVEAL_POLICY,
    kms: { region: "us-east-1", endpoint: undefined, kekKeyId: undefined, tokenKeyId: undefined },
    log: { level: "info", format: "auto" },
  });
});

Deno.test("readSettings() reads S3_ENDPOINT as an origin, and refuses one that is not a URL", () => {
  const settings = readSettings({
    ...REAL,
    S3_ENDPOINT: "http://127.0.0.1:4566/",
    AWS_REGION: "eu-west-1",
  });
  assert.deepEqual(settings.s3, { endpoint: "http://127.0.0.1:4566", region: "eu-west-1" });
  refused(
    () => readSettings({ ...REAL, S3_ENDPOINT: "s3.internal" }),
    /^Invalid S3_ENDPOINT "s3.internal": not a URL$/,
  );
});

Deno.test("readSettings() reads the reveal policy that migrate sets", () => {
  assert.deepEqual(
    readSettings({
      ...REAL,
      VAULT_REASON_MIN_CHARS: "12",
      VAULT_REASON_PATTERN: "^[A-Z]+-[0-9]+: ",
      VAULT_BULK_LIMIT: "250",
    }).revealPolicy,
    { minReasonChars: 12, reasonPattern: "^[A-Z]+-[0-9]+: ", bulkLimit: 250 },
  );
  assert.equal(
    readSettings({ ...REAL, VAULT_REASON_PATTERN: " " }).revealPolicy.reasonPattern,
    null,
  );
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
    reveal.parse(["--token", TOKEN, "--reason", "r"], {}).keyringPath,
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
    ["reveal without a reason", () => reveal.parse(["--token", TOKEN], REAL), /^Missing --reason/],
    [
      "forget without a user id",
      () => forget.parse(["--reason", "INC-1 cleanup"], REAL),
      /^Missing --user-id/,
    ],
    [
      "forget without a reason",
      () => forget.parse(["--user-id", "u1"], REAL),
      /^Missing --reason/,
    ],
    [
      "audit list with a bad --since",
      () => auditList.parse(["--since", "yesterday"], REAL),
      /^Invalid --since "yesterday": expected a date like 2026-11-25/,
    ],
    [
      "audit list with an impossible --since",
      () => auditList.parse(["--since", "2026-13-45"], REAL),
      /^Invalid --since "2026-13-45"/,
    ],
    [
      "audit verify with a bad --anchor",
      () => auditVerify.parse(["--anchor", "12:abc"], REAL),
      /^Invalid --anchor "12:abc": expected a row id, ":" and a 64-digit hex hash/,
    ],
    [
      "a bad VAULT_REASON_MIN_CHARS",
      () => readSettings({ ...REAL, VAULT_REASON_MIN_CHARS: "0" }),
      /^Invalid VAULT_REASON_MIN_CHARS "0": expected an integer from 1 to 1000/,
    ],
    [
      "a bad VAULT_BULK_LIMIT",
      () => readSettings({ ...REAL, VAULT_BULK_LIMIT: "1e3" }),
      /^Invalid VAULT_BULK_LIMIT "1e3"/,
    ],
    [
      "an overlong VAULT_REASON_PATTERN",
      () => readSettings({ ...REAL, VAULT_REASON_PATTERN: "a".repeat(1001) }),
      /^Invalid VAULT_REASON_PATTERN: longer than 1000 characters/,
    ],
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

Deno.test("KMS_ENDPOINT, the data key limits and the keys commands' options are checked", () => {
  const kms = readSettings({
    ...REAL,
    KMS_ENDPOINT: "http://127.0.0.1:4566/x",
    AWS_REGION: "eu-west-1",
  });
  assert.deepEqual(kms.kms, {
    region: "eu-west-1",
    endpoint: "http://127.0.0.1:4566",
    kekKeyId: undefined,
    tokenKeyId: undefined,
  });
  const keys = {
    VAULT_KMS_KEK: "alias/vaultline-kek",
    VAULT_KMS_TOKEN_KEY: "arn:aws:kms:us-east-1:1:key/t",
  };
  assert.deepEqual(keysInit.parse(["--out", "a", "--ingest-out", "b"], keys), {
    out: "a",
    ingestOut: "b",
    kmsKek: "alias/vaultline-kek",
    kmsTokenKey: "arn:aws:kms:us-east-1:1:key/t",
  });
  assert.equal(
    keysInit.parse(["--out", "a", "--ingest-out", "b", "--kms-kek", "alias/other"], keys).kmsKek,
    "alias/other",
    "the flag overrides the setting",
  );
  assert.equal(
    keysRotate.parse(["--ingest-out", "i"], { ...REAL, ...keys }).kmsKek,
    "alias/vaultline-kek",
  );
  refused(() => readSettings({ VAULT_KMS_KEK: "no spaces" }), /^Invalid VAULT_KMS_KEK "no spaces"/);
  refused(
    () => readSettings({ ...REAL, KMS_ENDPOINT: "kms.internal" }),
    /^Invalid KMS_ENDPOINT "kms\.internal": not a URL$/,
  );
  const options = run.parse([
    "--data-key-uses",
    "1000",
    "--data-key-age",
    "60",
    "--batch-size",
    "500",
  ], REAL);
  assert.equal(options.dataKeyUses, 1000);
  assert.equal(options.dataKeyAgeSeconds, 60);
  assert.equal(run.parse([], REAL).dataKeyUses, 65_536);
  refused(
    () => run.parse(["--data-key-uses", "999"], REAL),
    /^Invalid --data-key-uses "999": expected an integer from 1000 to 4294967296$/,
  );
  refused(() => run.parse(["--data-key-uses", String(2 ** 32 + 1)], REAL), /--data-key-uses/);
  refused(() => run.parse(["--data-key-age", "0"], REAL), /--data-key-age/);
  refused(() => keysRotate.parse(["--keyring", "/k.json"], REAL), /^Missing --ingest-out/);
  refused(() => keysRetire.parse(["--keyring", "/k.json"], REAL), /^Missing --kek/);
  refused(
    () => keysInit.parse(["--out", "a", "--ingest-out", "b", "--kms-kek", "has space"], {}),
    /^Invalid --kms-kek "has space"/,
  );
  assert.equal(keysRewrap.parse(["--keyring", "/k.json"], REAL).batchSize, 200);
  assert.equal(
    keysList.parse([], REAL).keyringPath,
    "/keys/ingest.json",
    "VAULT_KEYRING is the default",
  );
});
