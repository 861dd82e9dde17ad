/** vaultline's command line: the table of commands, and errors mapped to exit codes. */
import { archive } from "./lib/cli/archive.ts";
import { archiveRestore } from "./lib/cli/archive_restore.ts";
import { auditList } from "./lib/cli/audit_list.ts";
import { auditVerify } from "./lib/cli/audit_verify.ts";
import type { Command } from "./lib/cli/command.ts";
import { forget } from "./lib/cli/forget.ts";
import { keysInit } from "./lib/cli/keys_init.ts";
import { migrate } from "./lib/cli/migrate.ts";
import { keysList } from "./lib/cli/keys_list.ts";
import { keysRetire } from "./lib/cli/keys_retire.ts";
import { keysRewrap } from "./lib/cli/keys_rewrap.ts";
import { keysRotate } from "./lib/cli/keys_rotate.ts";
import { quarantineList } from "./lib/cli/quarantine_list.ts";
import { quarantineReplay } from "./lib/cli/quarantine_replay.ts";
import { reveal } from "./lib/cli/reveal.ts";
import { run } from "./lib/cli/run.ts";
import { seed } from "./lib/cli/seed.ts";
import { soak } from "./lib/cli/soak.ts";
import { ConfigError } from "./lib/config_error.ts";
import { isPermanent } from "./lib/failure.ts";
import { type Environment, ENVIRONMENT_VARIABLES } from "./lib/settings.ts";
import { KeyringError } from "./lib/vault/keyring.ts";

/** Every command; adding one is a new file in `lib/cli/` and a line here. */
export const COMMANDS: readonly Command[] = [
  run,
  migrate,
  reveal,
  forget,
  auditList,
  auditVerify,
  keysInit,
  keysRotate,
  keysRewrap,
  keysRetire,
  keysList,
  seed,
  quarantineList,
  quarantineReplay,
  soak,
  archive,
  archiveRestore,
];

/** Runs the command line `args`; resolves to the process exit code. */
export async function main(args: readonly string[], env: Environment): Promise<number> {
  const command = findCommand(args);
  const rest = args.slice(command ? command.name.split(" ").length : 1);
  const help = (command ? rest : args).some((arg) => arg === "--help" || arg === "-h");
  if (!command) {
    if (args.length === 0 || help || args[0] === "help") return print(usage());
    const group = COMMANDS.filter((c) => c.name.startsWith(`${args[0]} `));
    if (group.length > 0) {
      if (!help && args.length > 1) {
        return fail(
          new ConfigError(
            `Unknown ${args[0]} action "${args[1]}": expected ${
              group.map((c) => c.name.split(" ")[1]).join(", ")
            }`,
          ),
        );
      }
      return print(groupUsage(args[0]!, group));
    }
    return fail(
      new ConfigError(`Unknown command "${args[0]}": run "vaultline --help" for the list`),
    );
  }
  if (help) return print(command.help);
  try {
    return await command.run(rest, env);
  } catch (error) {
    return fail(error);
  }
}

/** The command whose name the arguments start with; the longest name wins (`archive restore`). */
export function findCommand(args: readonly string[]): Command | undefined {
  return COMMANDS
    .filter((command) => command.name.split(" ").every((word, i) => args[i] === word))
    .sort((a, b) => b.name.length - a.name.length)[0];
}

function usage(commands: readonly Command[] = COMMANDS): string {
  const width = Math.max(...commands.map((c) => c.name.length)) + 2;
  return [
    "vaultline: drain login events from SQS into a Postgres privacy vault",
    "",
    "Usage: vaultline <command> [options]",
    "",
    "Commands:",
    ...commands.map((c) => `  ${c.name.padEnd(width)}${c.summary}`),
    "",
    'Run "vaultline <command> --help" for a command\'s options.',
    "",
    "Environment:",
    "  DATABASE_URL    postgres://user:pass@host:port/db (unset with SQS_QUEUE_URL: sandbox)",
    "  SQS_QUEUE_URL   https://sqs.<region>.amazonaws.com/<account>/<queue>",
    "  SQS_ENDPOINT    SQS endpoint (default: AWS, or the queue URL's origin when not amazonaws.com)",
    "  S3_ENDPOINT     S3-compatible endpoint for the archive, path-style (default: AWS)",
    "  AWS_REGION      default us-east-1",
    "  KMS_ENDPOINT    KMS endpoint, for keyrings with KMS keys (default: AWS)",
    "  VAULT_KMS_KEK, VAULT_KMS_TOKEN_KEY",
    "                  KMS keys that keys init / rotate use for new keys (default: file keys)",
    "  VAULT_KEYRING   keyring file (--keyring overrides)",
    "  VAULT_REASON_MIN_CHARS, VAULT_REASON_PATTERN, VAULT_BULK_LIMIT",
    "                  the reveal policy migrate sets (see vaultline migrate --help)",
  ].join("\n");
}

function groupUsage(name: string, actions: readonly Command[]): string {
  return [
    `Usage: vaultline ${name} <action> [options]`,
    "",
    "Actions:",
    ...actions.map((c) => `  ${c.name.padEnd(20)}${c.summary}`),
    "",
    `Run "vaultline ${name} <action> --help" for an action's options.`,
  ].join("\n");
}

function print(text: string, code = 0): number {
  (code === 0 ? console.log : console.error)(text);
  return code;
}

/** One line on stderr; exit 2 for what no retry heals, 1 for a runtime failure. */
function fail(error: unknown): number {
  const message = error instanceof Error ? error.message : String(error);
  console.error(`vaultline: ${message.split("\n")[0]}`);
  const permanent = error instanceof ConfigError || error instanceof KeyringError ||
    isPermanent(error);
  return permanent ? 2 : 1;
}

/** The variables vaultline reads, and no others. */
function readEnvironment(): Environment {
  return Object.fromEntries(ENVIRONMENT_VARIABLES.map((name) => [name, Deno.env.get(name)]));
}

if (import.meta.main) Deno.exit(await main(Deno.args, readEnvironment()));
