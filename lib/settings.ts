/**
 * The environment, read once and validated: the sandbox (nothing configured) or a deployment.
 * Nothing else in vaultline reads environment variables.
 */
import { userInfo } from "node:os";
import { LOG_LEVELS, type LogLevel } from "./ops/log.ts";
import { ConfigError } from "./config_error.ts";
import { DEFAULT_REVEAL_POLICY, type RevealPolicy } from "./store/reveal_policy.ts";

/** Environment variables as given; only the names below are read. */
export type Environment = Readonly<Record<string, string | undefined>>;

/** Where a deployment's queue is and how to reach it. */
export interface QueueSettings {
  readonly url: string;
  /** SQS endpoint; undefined means the AWS default for the region. */
  readonly endpoint: string | undefined;
  readonly region: string;
}

/** Where the archive reaches S3: AWS by default, or an S3-compatible endpoint, path-style. */
export interface S3Settings {
  readonly endpoint: string | undefined;
  readonly region: string;
}

/** How to reach AWS KMS, for keyrings whose keys live there, and the keys new keyrings use. */
export interface KmsSettings {
  readonly region: string;
  /** KMS endpoint; undefined means the AWS default for the region. */
  readonly endpoint: string | undefined;
  /** `VAULT_KMS_KEK`: the KMS key `keys init` and `keys rotate` make the new KEK. */
  readonly kekKeyId: string | undefined;
  /** `VAULT_KMS_TOKEN_KEY`: the KMS HMAC key `keys init` makes the token key. */
  readonly tokenKeyId: string | undefined;
}

interface CommonSettings {
  /** `VAULT_KEYRING`; a command's `--keyring` overrides it. */
  readonly keyringPath: string | undefined;
  /** `S3_ENDPOINT` and `AWS_REGION`, for the archive. */
  readonly s3: S3Settings;
  /** The operating-system user, recorded by the audit as a claim; the database user is the identity. */
  readonly osUser: string;
  /** `VAULT_REASON_MIN_CHARS`, `VAULT_REASON_PATTERN`, `VAULT_BULK_LIMIT`: what `migrate` sets. */
  readonly revealPolicy: RevealPolicy;
  /** KMS for keyrings that name KMS keys: `AWS_REGION`, `KMS_ENDPOINT`. */
  readonly kms: KmsSettings;
  /** `LOG_LEVEL` and `LOG_FORMAT`: what the logs hold, and whether as JSON lines or text. */
  readonly log: LogSettings;
}

/** `auto`: text while stderr is a terminal, JSON lines otherwise. */
export type LogFormat = "auto" | "json" | "text";

/** How the logs are written. */
export interface LogSettings {
  readonly level: LogLevel;
  readonly format: LogFormat;
}

/** Neither `DATABASE_URL` nor `SQS_QUEUE_URL` set: embedded services under `dataDir`. */
export interface SandboxSettings extends CommonSettings {
  readonly mode: "sandbox";
  readonly dataDir: string;
}

/** At least one of `DATABASE_URL` and `SQS_QUEUE_URL` set: real services. */
export interface DeployedSettings extends CommonSettings {
  readonly mode: "deployed";
  readonly databaseUrl: string | undefined;
  readonly queue: QueueSettings | undefined;
}

export type Settings = SandboxSettings | DeployedSettings;

/** Where the sandbox keeps its database, queue and keys, relative to the working directory. */
export const SANDBOX_DATA_DIR = ".data";

/** The variables `readSettings` reads, for help texts and for deno's `--allow-env`. */
export const ENVIRONMENT_VARIABLES = [
  "DATABASE_URL",
  "SQS_QUEUE_URL",
  "SQS_ENDPOINT",
  "S3_ENDPOINT",
  "AWS_REGION",
  "KMS_ENDPOINT",
  "VAULT_KMS_KEK",
  "VAULT_KMS_TOKEN_KEY",
  "VAULT_KEYRING",
  "VAULT_REASON_MIN_CHARS",
  "VAULT_REASON_PATTERN",
  "VAULT_BULK_LIMIT",
  "LOG_LEVEL",
  "LOG_FORMAT",
  "USER",
  "LOGNAME",
] as const;

/**
 * Variables the AWS SDK reads itself for credentials and retries: vaultline passes them through
 * and never reads them (deno's `--allow-env` lists them for the SDK).
 */
export const AWS_SDK_VARIABLES = [
  "AWS_ACCESS_KEY_ID",
  "AWS_SECRET_ACCESS_KEY",
  "AWS_SESSION_TOKEN",
  "AWS_PROFILE",
  "AWS_CONFIG_FILE",
  "AWS_SHARED_CREDENTIALS_FILE",
  "AWS_ROLE_ARN",
  "AWS_ROLE_SESSION_NAME",
  "AWS_WEB_IDENTITY_TOKEN_FILE",
  "AWS_CONTAINER_CREDENTIALS_FULL_URI",
  "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
  "AWS_CONTAINER_AUTHORIZATION_TOKEN",
  "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
  "AWS_EC2_METADATA_DISABLED",
  "AWS_MAX_ATTEMPTS",
  "AWS_RETRY_MODE",
] as const;

const DEFAULT_REGION = "us-east-1";

/** Validates `env` into settings; a bad value is a `ConfigError` naming the variable. */
export function readSettings(env: Environment): Settings {
  const databaseUrl = nonEmpty(env.DATABASE_URL);
  if (databaseUrl !== undefined) parseDatabaseUrl(databaseUrl);
  const queueUrl = nonEmpty(env.SQS_QUEUE_URL);
  const region = nonEmpty(env.AWS_REGION) ?? DEFAULT_REGION;
  if (!/^[a-z]{2}(-[a-z]+)+-\d+$/.test(region)) {
    throw new ConfigError(`Invalid AWS_REGION "${region}": expected a region like us-east-1`);
  }
  const s3Endpoint = nonEmpty(env.S3_ENDPOINT);
  const common = {
    keyringPath: nonEmpty(env.VAULT_KEYRING),
    s3: {
      endpoint: s3Endpoint === undefined
        ? undefined
        : parseHttpUrl("S3_ENDPOINT", s3Endpoint).origin,
      region,
    },
    osUser: nonEmpty(env.USER) ?? nonEmpty(env.LOGNAME) ?? userInfo().username,
    revealPolicy: readRevealPolicy(env),
    kms: {
      region,
      endpoint: endpointOf("KMS_ENDPOINT", nonEmpty(env.KMS_ENDPOINT)),
      kekKeyId: parseKmsKeyId("VAULT_KMS_KEK", nonEmpty(env.VAULT_KMS_KEK)),
      tokenKeyId: parseKmsKeyId("VAULT_KMS_TOKEN_KEY", nonEmpty(env.VAULT_KMS_TOKEN_KEY)),
    },
    log: {
      level: oneOf("LOG_LEVEL", nonEmpty(env.LOG_LEVEL)?.toLowerCase() ?? "info", LOG_LEVELS),
      format: oneOf("LOG_FORMAT", nonEmpty(env.LOG_FORMAT)?.toLowerCase() ?? "auto", LOG_FORMATS),
    },
  };
  if (databaseUrl === undefined && queueUrl === undefined) {
    return { mode: "sandbox", dataDir: SANDBOX_DATA_DIR, ...common };
  }
  return {
    mode: "deployed",
    databaseUrl,
    queue: queueUrl === undefined
      ? undefined
      : queueSettings(queueUrl, nonEmpty(env.SQS_ENDPOINT), region),
    ...common,
  };
}

/** The reveal policy of `env`; each unset variable takes the default. */
function readRevealPolicy(env: Environment): RevealPolicy {
  const pattern = nonEmpty(env.VAULT_REASON_PATTERN);
  if (pattern !== undefined && pattern.length > 1000) {
    throw new ConfigError("Invalid VAULT_REASON_PATTERN: longer than 1000 characters");
  }
  return {
    minReasonChars: integerSetting(env, "VAULT_REASON_MIN_CHARS", {
      min: 1,
      max: 1000,
      fallback: DEFAULT_REVEAL_POLICY.minReasonChars,
    }),
    reasonPattern: pattern ?? null,
    bulkLimit: integerSetting(env, "VAULT_BULK_LIMIT", {
      min: 1,
      max: 100_000_000,
      fallback: DEFAULT_REVEAL_POLICY.bulkLimit,
    }),
  };
}

function integerSetting(
  env: Environment,
  name: string,
  { min, max, fallback }: { min: number; max: number; fallback: number },
): number {
  const value = nonEmpty(env[name])?.trim();
  if (value === undefined) return fallback;
  const n = /^\d+$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new ConfigError(`Invalid ${name} "${value}": expected an integer from ${min} to ${max}`);
  }
  return n;
}

/** The deployment's database URL; a `ConfigError` naming `DATABASE_URL` when it is unset. */
export function requireDatabaseUrl(settings: DeployedSettings, why: string): string {
  if (settings.databaseUrl === undefined) throw new ConfigError(`Missing DATABASE_URL: ${why}`);
  return settings.databaseUrl;
}

/** The deployment's queue; a `ConfigError` naming `SQS_QUEUE_URL` when it is unset. */
export function requireQueue(settings: DeployedSettings, why: string): QueueSettings {
  if (settings.queue === undefined) throw new ConfigError(`Missing SQS_QUEUE_URL: ${why}`);
  return settings.queue;
}

/**
 * The keyring a command uses: `--keyring`, else `VAULT_KEYRING`, else in the sandbox the file
 * `sandboxName` under the data directory.
 */
export function keyringPath(
  settings: Settings,
  { flag, sandboxName, kind }: { flag: string | undefined; sandboxName: string; kind: string },
): string {
  const path = nonEmpty(flag) ?? settings.keyringPath ??
    (settings.mode === "sandbox" ? `${settings.dataDir}/${sandboxName}` : undefined);
  if (path === undefined) {
    throw new ConfigError(`No keyring: set VAULT_KEYRING or pass --keyring with the ${kind}`);
  }
  return path;
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

function queueSettings(
  value: string,
  endpointSetting: string | undefined,
  region: string,
): QueueSettings {
  const url = parseHttpUrl("SQS_QUEUE_URL", value);
  let endpoint: string | undefined;
  if (endpointSetting !== undefined) {
    endpoint = parseHttpUrl("SQS_ENDPOINT", endpointSetting).origin;
  } else if (!/(^|\.)amazonaws\.com(\.cn)?$/.test(url.hostname)) endpoint = url.origin;
  return { url: value, endpoint, region };
}

function endpointOf(setting: string, value: string | undefined): string | undefined {
  return value === undefined ? undefined : parseHttpUrl(setting, value).origin;
}

/** A KMS key id, key ARN, alias name or alias ARN; a `ConfigError` naming `setting` otherwise. */
export function parseKmsKeyId(setting: string, value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (!/^[\w:/+=,.@-]{1,2048}$/.test(value)) {
    throw new ConfigError(
      `Invalid ${setting} "${value}": expected a KMS key id, key ARN, alias name or alias ARN`,
    );
  }
  return value;
}

function parseHttpUrl(setting: string, value: string): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError(`Invalid ${setting} "${redact(value)}": not a URL`);
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    throw new ConfigError(`Invalid ${setting} "${redact(value)}": expected an http or https URL`);
  }
  return url;
}

/** A URL without the password it may carry, for error messages. */
export function redact(value: string): string {
  return value.replace(/^([a-z][\w+.-]*:\/\/[^/:@]*):[^@/]*@/i, "$1:***@");
}

const LOG_FORMATS = ["auto", "json", "text"] as const;

/** `value` when it is one of `allowed`; otherwise a `ConfigError` naming `setting`. */
function oneOf<T extends string>(setting: string, value: string, allowed: readonly T[]): T {
  if ((allowed as readonly string[]).includes(value)) return value as T;
  throw new ConfigError(`Invalid ${setting} "${value}": expected ${allowed.join(", ")}`);
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === "" ? undefined : value;
}
