/** What a command module exports: its name, its help, and how it parses and runs. */
import { parseArgs } from "node:util";
import { ConfigError } from "../config_error.ts";
import type { Environment } from "../settings.ts";

/** One command of the command line, as `main.ts` lists it. */
export interface Command {
  /** The words that select it: `run`, `keys init`. */
  readonly name: string;
  /** One line for the list of commands. */
  readonly summary: string;
  /** The text `--help` prints, starting with `Usage: vaultline <name>`. */
  readonly help: string;
  /** Validates `args` (after the name) with `env` without acting; throws what `run` would. */
  parse(args: readonly string[], env: Environment): unknown;
  /** Parses `args` (after the name) with `env`, and runs; resolves to the exit code. */
  run(args: readonly string[], env: Environment): Promise<number>;
}

/** A command whose parsing is a separate, testable step: `parse` is pure, `execute` acts. */
export interface CommandSpec<Options> {
  readonly name: string;
  readonly summary: string;
  readonly help: string;
  parse(args: readonly string[], env: Environment): Options;
  execute(options: Options): Promise<number>;
}

/** A command from its spec; the spec's `parse` stays callable for tests. */
export function defineCommand<Options>(
  spec: CommandSpec<Options>,
): CommandSpec<Options> & Command {
  return {
    ...spec,
    run: async (args, env) => await spec.execute(spec.parse(args, env)),
  };
}

/** Option specs in the form `node:util` `parseArgs` takes. */
export type OptionSpec = Record<string, {
  type: "string" | "boolean";
  multiple?: boolean;
  short?: string;
}>;

/** Parses `args` strictly; an unknown or malformed option is a `ConfigError`. */
export function parseOptions<T extends OptionSpec>(args: readonly string[], options: T) {
  try {
    return parseArgs({ args: [...args], options, strict: true, allowPositionals: false }).values;
  } catch (error) {
    const message = error instanceof Error ? error.message.split("\n")[0] : String(error);
    throw new ConfigError(`Invalid arguments: ${message}`, { cause: error });
  }
}

/** `value` as an integer within `min` and `max`; otherwise a `ConfigError` naming `option`. */
export function parseInteger(
  option: string,
  value: string | undefined,
  { min, max, fallback }: { min: number; max: number; fallback: number },
): number {
  if (value === undefined) return fallback;
  const n = /^\d+$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new ConfigError(
      `Invalid ${option} "${value}": expected an integer from ${min} to ${max}`,
    );
  }
  return n;
}

/** `value` when it is a string, else undefined: `parseArgs` values are loosely typed. */
export function asString(value: unknown): string | undefined {
  return typeof value === "string" ? value : undefined;
}
