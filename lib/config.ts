/** Turns the command line and the environment into one typed, validated command. */
import { userInfo } from "node:os";
import { parseArgs } from "node:util";

/** A bad or missing setting; `main.ts` maps it to exit code 2. */
export class ConfigError extends Error {
  override name = "ConfigError";
}

/** Where the ingest and reveal find their services. */
export interface Settings {
  /** Postgres URL; undefined means the embedded sandbox database under `dataDir`. */
  readonly databaseUrl: string | undefined;
  /** Queue URL; undefined means the embedded sandbox queue. */
  readonly sqsQueueUrl: string | undefined;
  /** SQS endpoint; undefined means the AWS default for the region. */
  readonly sqsEndpoint: string | undefined;
  readonly awsRegion: string;
  /** Keyring file; undefined only when no keyring was configured. */
  readonly keyringPath: string | undefined;
  /** Where the sandbox keeps its database, queue and keys. */
  readonly dataDir: string;
  /** The operating-system user, recorded by reveal's audit. */
  readonly osUser: string;
}

/** Options of `run`: drain the queue into the vault. */
export interface RunCommand {
  readonly name: "run";
  readonly settings: Settings;
  readonly untilEmpty: boolean;
  readonly maxMessages: number | undefined;
  readonly concurrency: number;
  readonly batchSize: number;
  readonly visibilitySeconds: number;
  readonly json: boolean;
}

/** Options of `reveal`: recover originals, audited. */
export interface RevealCommand {
  readonly name: "reveal";
  readonly settings: Settings;
  readonly tokens: readonly string[];
  readonly reason: string;
}

/** Options of `keys init`: write a new keyring pair. */
export interface KeysInitCommand {
  readonly name: "keys-init";
  readonly out: string;
  readonly ingestOut: string;
}

/** Options of `seed`: send generated login messages to a queue. */
export interface SeedCommand {
  readonly name: "seed";
  readonly settings: Settings;
  readonly count: number;
  readonly malformedShare: number;
}

/** A request for a help text, printed to stdout with exit code 0. */
export interface HelpCommand {
  readonly name: "help";
  readonly text: string;
}

export type Command = RunCommand | RevealCommand | KeysInitCommand | SeedCommand | HelpCommand;

/** Environment variables the product reads; everything else is ignored. */
export type Environment = Readonly<Record<string, string | undefined>>;

const DEFAULT_REGION = "us-east-1";
const DEFAULT_DATA_DIR = ".data";

const MAIN_HELP = `vaultline: drain login events from SQS into a Postgres privacy vault

Usage: vaultline <command> [options]

Commands:
  run       Drain the queue into user_logins (the sandbox when nothing is configured)
  reveal    Recover original values of tokens, with a reason, audited
  keys      Create key material (keys init)
  seed      Send generated login messages to the queue

Run "vaultline <command> --help" for a command's options.

Environment:
  DATABASE_URL    postgres://user:pass@host:port/db (unset with SQS_QUEUE_URL: sandbox)
  SQS_QUEUE_URL   https://sqs.<region>.amazonaws.com/<account>/<queue>
  SQS_ENDPOINT    SQS endpoint (default: AWS, or the queue URL's origin when not amazonaws.com)
  AWS_REGION      default ${DEFAULT_REGION}
  VAULT_KEYRING   keyring file (--keyring overrides)`;

const RUN_HELP = `Usage: vaultline run [options]

Drains SQS_QUEUE_URL into DATABASE_URL. With neither set, runs the sandbox: embedded
Postgres and SQS under ${DEFAULT_DATA_DIR}/, seeded with the sample queue, drained until empty.

Options:
  --keyring FILE      ingest keyring (default VAULT_KEYRING; sandbox: ${DEFAULT_DATA_DIR}/ingest.keyring.json)
  --until-empty       stop once the queue holds no visible, in-flight or delayed message
  --max-messages N    stop after N messages
  --concurrency N     concurrent long-polling receivers (default 4)
  --batch-size N      messages per database transaction, 1 to 1000 (default 500)
  --visibility-timeout SECONDS
                      how long a received message stays hidden from other consumers; renewed
                      while it waits (default 60)
  --json              print the final summary as one JSON object on stdout
  -h, --help          show this help`;

const REVEAL_HELP =
  `Usage: vaultline reveal --token TOKEN [--token TOKEN ...] --reason TEXT [--keyring FILE]

Prints one JSON line per token: {"token", "field", "value"}. Needs the full keyring.
Every reveal is recorded in reveal_audit before anything is printed.

Options:
  --token TOKEN    a masked_ip or masked_device_id value; repeat for several
  --reason TEXT    why the originals are needed (required, recorded in the audit)
  --keyring FILE   full keyring (default VAULT_KEYRING; sandbox: ${DEFAULT_DATA_DIR}/keyring.json)
  -h, --help       show this help`;

const KEYS_HELP = `Usage: vaultline keys init --out FILE --ingest-out FILE

Writes a new full keyring (token key and KEK private key: for reveal) to --out and the
matching ingest keyring (token key and KEK public key: encrypts, never decrypts) to
--ingest-out, both mode 0600. Refuses to overwrite an existing file.

Options:
  --out FILE          full keyring file
  --ingest-out FILE   ingest keyring file
  -h, --help          show this help`;

const SEED_HELP = `Usage: vaultline seed [--count N] [--malformed SHARE]

Sends N generated login messages to SQS_QUEUE_URL (or the sandbox queue), a share of them
malformed, for demos and load tests.

Options:
  --count N           messages to send (default 1000)
  --malformed SHARE   share of malformed messages, 0 to 1 (default 0.01)
  -h, --help          show this help`;

/** Parses `args` (without the program name) and `env` into the command to run. */
export function parseCommand(args: readonly string[], env: Environment): Command {
  const [name, ...rest] = args;
  switch (name) {
    case "run":
      return parseRun(rest, env);
    case "reveal":
      return parseReveal(rest, env);
    case "keys":
      return parseKeys(rest);
    case "seed":
      return parseSeed(rest, env);
    case undefined:
    case "-h":
    case "--help":
    case "help":
      return { name: "help", text: MAIN_HELP };
    default:
      throw new ConfigError(`Unknown command "${name}": expected run, reveal, keys or seed`);
  }
}

function parseRun(args: readonly string[], env: Environment): RunCommand | HelpCommand {
  const { values } = parseOptions(args, {
    keyring: { type: "string" },
    "until-empty": { type: "boolean" },
    "max-messages": { type: "string" },
    concurrency: { type: "string" },
    "batch-size": { type: "string" },
    "visibility-timeout": { type: "string" },
    json: { type: "boolean" },
    help: { type: "boolean", short: "h" },
  });
  if (values.help) return { name: "help", text: RUN_HELP };
  const settings = parseSettings(env, {
    keyringFlag: asString(values.keyring),
    sandboxKeyring: "ingest.keyring.json",
  });
  if ((settings.databaseUrl === undefined) !== (settings.sqsQueueUrl === undefined)) {
    const missing = settings.databaseUrl === undefined ? "DATABASE_URL" : "SQS_QUEUE_URL";
    throw new ConfigError(
      `Missing ${missing}: set both SQS_QUEUE_URL and DATABASE_URL, or neither for the sandbox`,
    );
  }
  if (settings.keyringPath === undefined) {
    throw new ConfigError(
      "No keyring: set VAULT_KEYRING or pass --keyring with the ingest keyring",
    );
  }
  const maxText = asString(values["max-messages"]);
  const maxMessages = maxText === undefined
    ? undefined
    : parseInteger("--max-messages", maxText, { min: 1, max: Number.MAX_SAFE_INTEGER });
  return {
    name: "run",
    settings,
    // The sandbox always drains to empty: a newcomer's run should end on its own.
    untilEmpty: values["until-empty"] === true || isSandbox(settings),
    maxMessages,
    concurrency: parseInteger("--concurrency", asString(values.concurrency) ?? "4", {
      min: 1,
      max: 64,
    }),
    batchSize: parseInteger("--batch-size", asString(values["batch-size"]) ?? "500", {
      min: 1,
      max: 1000,
    }),
    visibilitySeconds: parseInteger(
      "--visibility-timeout",
      asString(values["visibility-timeout"]) ?? "60",
      { min: 2, max: 43_200 },
    ),
    json: values.json === true,
  };
}

function parseReveal(args: readonly string[], env: Environment): RevealCommand | HelpCommand {
  const { values } = parseOptions(args, {
    token: { type: "string", multiple: true },
    reason: { type: "string" },
    keyring: { type: "string" },
    help: { type: "boolean", short: "h" },
  });
  if (values.help) return { name: "help", text: REVEAL_HELP };
  const tokens = (values.token ?? []) as string[];
  if (tokens.length === 0) throw new ConfigError("Missing --token: name at least one token");
  const reason = asString(values.reason)?.trim() ?? "";
  if (reason === "") {
    throw new ConfigError("Missing --reason: every reveal must say why, for the audit");
  }
  const settings = parseSettings(env, {
    keyringFlag: asString(values.keyring),
    sandboxKeyring: "keyring.json",
  });
  if (settings.keyringPath === undefined) {
    throw new ConfigError("No keyring: set VAULT_KEYRING or pass --keyring with the full keyring");
  }
  return { name: "reveal", settings, tokens, reason };
}

function parseKeys(args: readonly string[]): KeysInitCommand | HelpCommand {
  const [action, ...rest] = args;
  if (action === undefined || action === "-h" || action === "--help") {
    return { name: "help", text: KEYS_HELP };
  }
  if (action !== "init") throw new ConfigError(`Unknown keys action "${action}": expected init`);
  const { values } = parseOptions(rest, {
    out: { type: "string" },
    "ingest-out": { type: "string" },
    help: { type: "boolean", short: "h" },
  });
  if (values.help) return { name: "help", text: KEYS_HELP };
  const out = asString(values.out);
  const ingestOut = asString(values["ingest-out"]);
  if (!out) throw new ConfigError("Missing --out: the file for the full keyring");
  if (!ingestOut) throw new ConfigError("Missing --ingest-out: the file for the ingest keyring");
  if (out === ingestOut) throw new ConfigError("Invalid --ingest-out: it must differ from --out");
  return { name: "keys-init", out, ingestOut };
}

function parseSeed(args: readonly string[], env: Environment): SeedCommand | HelpCommand {
  const { values } = parseOptions(args, {
    count: { type: "string" },
    malformed: { type: "string" },
    help: { type: "boolean", short: "h" },
  });
  if (values.help) return { name: "help", text: SEED_HELP };
  const malformed = Number(asString(values.malformed) ?? "0.01");
  if (!(malformed >= 0 && malformed <= 1)) {
    throw new ConfigError(
      `Invalid --malformed "${values.malformed}": expected a share from 0 to 1`,
    );
  }
  return {
    name: "seed",
    settings: parseSettings(env, { keyringFlag: undefined, sandboxKeyring: "ingest.keyring.json" }),
    count: parseInteger("--count", asString(values.count) ?? "1000", { min: 1, max: 10_000_000 }),
    malformedShare: malformed,
  };
}

/** True when the command runs against the embedded sandbox services. */
export function isSandbox(settings: Settings): boolean {
  return settings.databaseUrl === undefined && settings.sqsQueueUrl === undefined;
}

function parseSettings(
  env: Environment,
  { keyringFlag, sandboxKeyring }: { keyringFlag: string | undefined; sandboxKeyring: string },
): Settings {
  const databaseUrl = nonEmpty(env.DATABASE_URL);
  const sqsQueueUrl = nonEmpty(env.SQS_QUEUE_URL);
  if (databaseUrl !== undefined) parseDatabaseUrl(databaseUrl);
  const queueUrl = sqsQueueUrl === undefined
    ? undefined
    : parseHttpUrl("SQS_QUEUE_URL", sqsQueueUrl);
  const endpointSetting = nonEmpty(env.SQS_ENDPOINT);
  let sqsEndpoint: string | undefined;
  if (endpointSetting !== undefined) {
    sqsEndpoint = parseHttpUrl("SQS_ENDPOINT", endpointSetting).origin;
  } else if (queueUrl !== undefined && !isAwsHost(queueUrl.hostname)) {
    sqsEndpoint = queueUrl.origin;
  }
  const awsRegion = nonEmpty(env.AWS_REGION) ?? DEFAULT_REGION;
  if (!/^[a-z]{2}(-[a-z]+)+-\d+$/.test(awsRegion)) {
    throw new ConfigError(`Invalid AWS_REGION "${awsRegion}": expected a region like us-east-1`);
  }
  const dataDir = DEFAULT_DATA_DIR;
  const keyringPath = nonEmpty(keyringFlag) ?? nonEmpty(env.VAULT_KEYRING) ??
    (databaseUrl === undefined ? `${dataDir}/${sandboxKeyring}` : undefined);
  return {
    databaseUrl,
    sqsQueueUrl,
    sqsEndpoint,
    awsRegion,
    keyringPath,
    dataDir,
    osUser: nonEmpty(env.USER) ?? nonEmpty(env.LOGNAME) ?? userInfo().username,
  };
}

/** Validates a Postgres connection URL; the error never echoes it, as it may hold a password. */
export function parseDatabaseUrl(value: string): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError("Invalid DATABASE_URL: expected postgres://user:password@host:port/db");
  }
  if (url.protocol !== "postgres:" && url.protocol !== "postgresql:") {
    throw new ConfigError(
      `Invalid DATABASE_URL: scheme "${url.protocol}" is not postgres: or postgresql:`,
    );
  }
  return url;
}

function parseHttpUrl(setting: string, value: string): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError(`Invalid ${setting} "${value}": not a URL`);
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    throw new ConfigError(`Invalid ${setting} "${value}": expected an http or https URL`);
  }
  return url;
}

function isAwsHost(hostname: string): boolean {
  return /(^|\.)amazonaws\.com(\.cn)?$/.test(hostname);
}

function parseInteger(
  option: string,
  value: string,
  { min, max }: { min: number; max: number },
): number {
  const n = /^\d+$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new ConfigError(
      `Invalid ${option} "${value}": expected an integer from ${min} to ${max}`,
    );
  }
  return n;
}

type OptionSpec = Record<string, {
  type: "string" | "boolean";
  multiple?: boolean;
  short?: string;
}>;

function parseOptions(args: readonly string[], options: OptionSpec) {
  try {
    return parseArgs({ args: [...args], options, strict: true, allowPositionals: false });
  } catch (error) {
    const message = error instanceof Error ? error.message.split("\n")[0] : String(error);
    throw new ConfigError(`Invalid arguments: ${message}`, { cause: error });
  }
}

function asString(value: unknown): string | undefined {
  return typeof value === "string" ? value : undefined;
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === "" ? undefined : value;
}
